/**
 * Shared by the launch scripts: start a server under test as a child process, learn its issuer, run the kit
 * against it, stop it. Kept out of the published kit (src/): it is how this repo measures servers, not the kit.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ensureCa } from '../src/ca.js';

export interface Launched {
  issuer: string;
  child: ChildProcess;
  /** Everything the child wrote (for diagnostics). */
  output: string[];
  stop(): Promise<void>;
}

export interface LaunchSpec {
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Reads the issuer from one line of output, or returns undefined. */
  issuerFrom(line: string): string | undefined;
  timeoutMs?: number;
}

/** A fresh CA folder for one run (the server under test is started trusting it). */
export async function freshCa() {
  const dir = await mkdtemp(join(tmpdir(), 'cimd-conformance-'));
  return { dir, ca: await ensureCa(dir) };
}

export async function launch(spec: LaunchSpec): Promise<Launched> {
  const child = spawn(spec.command, spec.args, { cwd: spec.cwd, env: spec.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  const issuer = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `${spec.command} did not report its issuer within ${spec.timeoutMs ?? 60_000} ms:\n${output.slice(-20).join('\n')}`,
          ),
        ),
      spec.timeoutMs ?? 60_000,
    );
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream! }).on('line', (line) => {
        output.push(line);
        if (output.length > 2000) output.shift();
        const found = spec.issuerFrom(line);
        if (found) {
          clearTimeout(timer);
          resolve(found);
        }
      });
    }
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(
          `${spec.command} exited (${code ?? signal}) before reporting its issuer:\n${output.slice(-20).join('\n')}`,
        ),
      );
    });
  }).catch(async (error) => {
    await stop();
    throw error;
  });
  return { issuer, child, output, stop };
}
