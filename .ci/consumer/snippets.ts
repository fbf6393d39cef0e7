// README snippets that are fragments, type-checked in the consumer project with the context they assume. Each
// block between `// README <name>` and `// END` appears verbatim (dedented) in README.md
// (test/packaging/readme-snippets.test.ts keeps them identical).
import type Koa from 'koa';
import type { ClientMetadata, Provider } from 'oidc-provider';
import { createCimd } from 'oidc-provider-cimd';

const cimd = createCimd({ issuer: 'https://as.example.com' });

export async function operatorApi(metadata: ClientMetadata): Promise<void> {
  // README operator-api
  await cimd.inspect('https://client.example/metadata.json'); // { entry, tier, fresh, ageMs, expiresInMs } | undefined
  await cimd.refresh('https://client.example/metadata.json'); // fetch now; replaces the entry only if the new document is valid
  await cimd.purge('https://client.example/metadata.json'); // forget it
  await cimd.pin('https://client.example/metadata.json', { document: JSON.stringify(metadata) }); // pre-register (JSON text): never fetched while pinned
  await cimd.unpin('https://client.example/metadata.json');
  // END
}

export async function viewModel(provider: Provider, ctx: Koa.Context): Promise<unknown> {
  // README view-model
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const client = await provider.Client.find(String(details.params.client_id));
  if (!client) return ctx.throw(400, 'unknown client'); // e.g. its document stopped validating meanwhile
  const view = await cimd.consentViewModel({ interaction: details, client });
  // END
  return view;
}
