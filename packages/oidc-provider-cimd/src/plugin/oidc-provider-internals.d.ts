// oidc-provider's configuration defaults (exported since 9.0.0): the plugin wraps the default
// `assertJwtClientAuthClaimsAndHeader` when a deployment configures none, so that its checks still run.
declare module 'oidc-provider/lib/helpers/defaults.js' {
  import type { Configuration } from 'oidc-provider';
  export const defaults: Required<Pick<Configuration, 'assertJwtClientAuthClaimsAndHeader'>> & Configuration;
}
