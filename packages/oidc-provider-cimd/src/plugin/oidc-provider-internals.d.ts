// oidc-provider ships no export map and no types for its default memory adapter; the plugin wraps it when a
// deployment configures no adapter, exactly as oidc-provider would have used it.
declare module 'oidc-provider/lib/adapters/memory_adapter.js' {
  import type { Adapter } from 'oidc-provider';
  export function createMemoryAdapter(clockTolerance?: number): (name: string) => Adapter;
}

// oidc-provider's configuration defaults (exported since 9.0.0): the plugin wraps the default
// `assertJwtClientAuthClaimsAndHeader` when a deployment configures none, so that its checks still run.
declare module 'oidc-provider/lib/helpers/defaults.js' {
  import type { Configuration } from 'oidc-provider';
  export const defaults: Required<Pick<Configuration, 'assertJwtClientAuthClaimsAndHeader'>> & Configuration;
}
