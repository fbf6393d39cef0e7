/**
 * The tiny authorization server as a start command, for the kit's namespace mode: PORT, DEFECTS (JSON of
 * Defects) and CIMD_CONFORMANCE_CA (the kit's CA, set by the kit) from the environment.
 */
import { readFile } from 'node:fs/promises';
import { startTinyAs } from './tiny-as.js';

const ca = await readFile(process.env.CIMD_CONFORMANCE_CA ?? '', 'utf8');
const server = await startTinyAs(ca, JSON.parse(process.env.DEFECTS ?? '{}'), Number(process.env.PORT ?? 0));
process.stdout.write(`${JSON.stringify({ event: 'startup', issuer: server.issuer })}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
