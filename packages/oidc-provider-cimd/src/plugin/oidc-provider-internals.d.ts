// oidc-provider ships no export map and no types for its default memory adapter; the plugin wraps it when a
// deployment configures no adapter, exactly as oidc-provider would have used it.
declare module 'oidc-provider/lib/adapters/memory_adapter.js' {
  import type { Adapter } from 'oidc-provider';
  export function createMemoryAdapter(clockTolerance?: number): (name: string) => Adapter;
}
