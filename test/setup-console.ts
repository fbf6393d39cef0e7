// oidc-provider warns about development keys and notices default TTLs, and the plugin warns about its development
// in-memory adapter, for every Provider a test creates; those are expected here and would bury real output.
for (const level of ['warn', 'info'] as const) {
  const original = console[level].bind(console);
  console[level] = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && /^oidc-provider(-cimd)? (WARNING|NOTICE)/.test(args[0])) return;
    original(...args);
  };
}
