/**
 * Where the command line writes, and how: colour and progress only on a terminal.
 */
import { styleText } from 'node:util';

export interface OutputStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

export interface Io {
  stdout: OutputStream;
  stderr: OutputStream;
  env: Record<string, string | undefined>;
  /** Directory relative paths are resolved against. */
  cwd: string;
}

export function processIo(): Io {
  // Run as `pnpm cimd ...` from the repository, the process starts in the root; files are named relative to
  // where the user typed the command.
  const viaScript = process.env.npm_lifecycle_event === 'cimd' && process.env.INIT_CWD;
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: viaScript ? (process.env.INIT_CWD as string) : process.cwd(),
  };
}

type Format = 'green' | 'yellow' | 'red' | 'dim' | 'bold' | 'cyan';

export interface Style {
  readonly enabled: boolean;
  (format: Format | readonly Format[], text: string): string;
}

/** Colour when the stream is a terminal, unless NO_COLOR is set (FORCE_COLOR forces it). */
export function colourFor(stream: OutputStream, env: Io['env']): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return stream.isTTY === true && env.TERM !== 'dumb';
}

export function createStyle(enabled: boolean): Style {
  // The decision is ours (the stream may not be process.stdout), so styleText must not second-guess it.
  const style = ((format: Format | readonly Format[], text: string) =>
    enabled ? styleText(format as Format | Format[], text, { validateStream: false }) : text) as Style;
  Object.defineProperty(style, 'enabled', { value: enabled });
  return style;
}

export interface Progress {
  update(message: string): void;
  done(): void;
}

const NO_PROGRESS: Progress = { update() {}, done() {} };

/** A one-line status on stderr for slow steps; nothing at all when stderr is not a terminal. */
export function createProgress(io: Io): Progress {
  if (io.stderr.isTTY !== true) return NO_PROGRESS;
  let shown = false;
  return {
    update(message) {
      io.stderr.write(`\r\x1b[2K${message}…`);
      shown = true;
    },
    done() {
      if (shown) io.stderr.write('\r\x1b[2K');
      shown = false;
    },
  };
}
