/** Programmatic entry points of the kit (the bin is a thin wrapper around `main`). */
export { ensureCa, issueLeaf, type KitCa } from './ca.js';
export { ALL_CASES, type CaseDef } from './cases/index.js';
export { main, USAGE } from './cli.js';
export { type DevSetup, devInstructions, startDevHost } from './dev.js';
export { type DocHost, respond, startDocHost } from './doc-host.js';
export { formatTable, toJson, toJunit } from './report.js';
export { type RunOptions, readMetadata, runCases } from './runner.js';
export type { CaseResult, Family, Level, Mode, RunReport, Status } from './types.js';
