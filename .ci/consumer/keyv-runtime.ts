// Run by .ci/pack-consume once with keyv 5 and once with keyv 6 installed on the deployment's side: the
// deployment's own Keyv instance as the plugin's shared store really stores, reads and deletes documents.
import { readFileSync } from 'node:fs';
import Keyv from 'keyv';
import { createCimd } from 'oidc-provider-cimd';

const clientId = 'https://app.example.com/oauth/client-metadata.json';
const store = new Keyv({ namespace: 'cimd' });
const cimd = createCimd({ issuer: 'https://as.example.com', cache: store });
cimd.configure({}); // the operator API works once the plugin is configured

await cimd.pin(clientId, { document: readFileSync(new URL('./client.json', import.meta.url), 'utf8') });
await cimd.close();
// A second plugin on the same store (another instance) reads the pinned document from it, not from memory.
const other = createCimd({ issuer: 'https://as.example.com', cache: store });
other.configure({});
const seen = await other.inspect(clientId);
if (seen?.tier !== 'shared' || seen.entry.metadata.client_name !== 'Example App') {
  throw new Error(`the pinned document was not read back through the deployment's Keyv: ${JSON.stringify(seen)}`);
}
await other.purge(clientId);
if ((await other.inspect(clientId)) !== undefined) throw new Error('purge did not delete through the Keyv store');
await other.close();
const version = JSON.parse(readFileSync(new URL('./node_modules/keyv/package.json', import.meta.url), 'utf8')).version;
console.log(`   keyv ${version}: pin, read from the shared store, purge: OK`);
