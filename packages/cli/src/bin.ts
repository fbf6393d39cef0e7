#!/usr/bin/env node
// oidc-provider warns about Node 20 when it is loaded; the command line runs no provider, so that warning is
// noise here (the plugin itself supports Node >= 20.19). Filtered before the plugin is imported.
const warn = console.warn.bind(console);
console.warn = (...args: unknown[]) => {
  if (typeof args[0] === 'string' && args[0].startsWith('oidc-provider WARNING: Unsupported runtime')) return;
  warn(...args);
};

// `cimd clients | head -1`: the reader goes away, and the next write fails with EPIPE. That is the reader's
// choice, not a failure of the command: stop quietly, with the status the command had (0 when it had none yet),
// instead of crashing on an unhandled 'error' event.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    throw error;
  });
}

const { main } = await import('./main.js');
const code = await main(process.argv.slice(2));
process.exitCode = code;
// Everything is closed by now; this only guards against a stray handle keeping a finished command alive.
setTimeout(() => process.exit(code), 1000).unref();
