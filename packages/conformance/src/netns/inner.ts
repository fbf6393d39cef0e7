/** Entry point inside the namespace: the same command line, read from CIMD_CONFORMANCE_ARGS. */
import { main } from '../cli.js';

process.exitCode = await main(JSON.parse(process.env.CIMD_CONFORMANCE_ARGS ?? '[]') as string[]);
