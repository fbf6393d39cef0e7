// oidc-provider warns about development keys, the in-memory adapter and Node 20, and notices default TTLs, for
// every Provider a test creates; those are expected here and would bury real output.
for (const level of ['warn', 'info'] as const) {
  const original = console[level].bind(console);
  console[level] = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && /^oidc-provider (WARNING|NOTICE)/.test(args[0])) return;
    original(...args);
  };
}
