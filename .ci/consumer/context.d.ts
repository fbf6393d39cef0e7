// The context the documentation's fragments assume (README.md and docs/*.md, extracted by .ci/doc-snippets.mjs):
// what a deployment has at hand where such a fragment goes. Declared once here, so each fragment stays as short
// as it is on the page and is still type-checked against the packed package.
import type Koa from 'koa';
import type { Configuration, interactionPolicy, KoaContextWithOIDC, Provider } from 'oidc-provider';
import type { Cimd } from 'oidc-provider-cimd';

declare global {
  /** The provider, created with `new Provider(issuer, cimd.configure(configuration))`. */
  const provider: Provider;
  /** The plugin object of `createCimd()`. */
  const cimd: Cimd;
  const issuer: string;
  /** The deployment's provider configuration, before `cimd.configure()`. */
  const configuration: Configuration;
  /** The deployment's Koa app, and a router of its interaction pages (`@koa/router` or alike). */
  const app: Koa;
  const router: { get(path: string, handler: (ctx: Koa.Context) => Promise<unknown>): unknown };
  /** Inside a Koa route of the interaction pages. */
  const ctx: KoaContextWithOIDC;
  const details: Awaited<ReturnType<Provider['interactionDetails']>>;
  const view: Awaited<ReturnType<Cimd['consentViewModel']>>;
  /** A CSRF token of the deployment's own. */
  const token: string;
  /** The Express router of the deployment's login and consent pages. */
  const yourInteractionRouter: (req: unknown, res: unknown, next: () => void) => void;
  /** Inside a `node:http` request handler. */
  const req: import('node:http').IncomingMessage;
  const res: import('node:http').ServerResponse;
  /** The deployment's logger and database. */
  const log: { warn(message: string): void; info(message: string): void };
  const db: { isApprovedClientHost(host: string): Promise<boolean> };
  /** A prompt of the deployment's own, and the URL function of its interactions. */
  const myOwnPrompt: interactionPolicy.Prompt;
  const url: (ctx: KoaContextWithOIDC, interaction: unknown) => string;
  /** At the consent page's POST route: the deployment's oidc-provider Grant and the parsed form body. */
  const grant: InstanceType<Provider['Grant']>;
  const body: Record<string, unknown>;
  /** Client metadata, e.g. read from a file. */
  const metadata: Record<string, unknown>;
}
