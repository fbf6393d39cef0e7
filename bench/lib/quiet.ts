/**
 * Imported first by every benchmark entry point (ES modules evaluate in import order): oidc-provider prints its
 * development notices (and, on Node 20, an "unsupported runtime" warning) when it is first imported, which would
 * drown the output.
 */
for (const level of ['warn', 'info'] as const) {
  const original = console[level].bind(console);
  console[level] = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && /^oidc-provider (WARNING|NOTICE)/.test(args[0])) return;
    original(...args);
  };
}
