/** Namespace mode (Linux, root). */
import type { CliIo } from '../cli.js';
import type { RunReport } from '../types.js';

export interface NetnsRunOptions {
  argv: Record<string, unknown>;
  io: CliIo;
  only: string[];
  expiryWaitMs: number;
  intervalMs: number;
}

export async function runNetns(_options: NetnsRunOptions): Promise<RunReport> {
  throw new Error('namespace mode is not available in this build');
}
