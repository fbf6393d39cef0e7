/**
 * oidc-provider's own outbound requests (its `fetch` configuration hook: `jwks_uri`, `sector_identifier_uri`,
 * back-channel calls) go through the guarded fetcher and its budgets (SPEC.ssrf). When such a fetch fails on
 * behalf of a CIMD client, the token request that needed it fails with `invalid_client` and oidc-provider logs
 * nothing a deployment could act on; the plugin reports it as an event instead (`client_fetch_failed`, with the
 * client id and the member whose URL failed).
 */
import { Provider } from 'oidc-provider';
import { Reason } from '../core/errors.js';
import type { Fetcher } from '../fetch/fetcher.js';
import type { KnownClientsView } from '../known/record.js';
import type { Emit } from '../observe/events.js';

type ProviderFetch = (url: string | URL, init?: Record<string, unknown>) => Promise<Response>;

/** Which of the client's members named this URL. */
function memberOf(client: Record<string, unknown>, url: string): string {
  if (client.jwksUri === url) return 'jwks_uri';
  if (client.sectorIdentifierUri === url) return 'sector_identifier_uri';
  return 'url';
}

/**
 * `known`: a known-good client's key set (and other fetches) is charged to the capacity reserved for known
 * clients, so junk ids on its host cannot fail its token requests (docs/trust-and-budgets.md).
 */
export function providerFetch(fetcher: Fetcher, emit: Emit, known?: KnownClientsView): ProviderFetch {
  return async (url, init) => {
    const started = performance.now();
    const client = Provider.ctx?.oidc?.client as unknown as Record<string, unknown> | undefined;
    const cid =
      typeof client?.clientId === 'string' && client.clientId.startsWith('https://') ? client.clientId : undefined;
    const report = (detail: string) => {
      if (cid === undefined || client === undefined) return;
      const member = memberOf(client, String(url));
      emit(Reason.ClientFetchFailed, cid, started, 'origin', {
        detail: `${member} ${String(url)}: ${detail}`,
        rule: member,
      });
    };
    let response: Response;
    try {
      const isKnown = cid === undefined ? false : known?.isKnown(cid);
      const charge = { known: (isKnown instanceof Promise ? await isKnown : isKnown) === true };
      response = await fetcher.fetch(url, init, charge);
    } catch (error) {
      report(error instanceof Error ? error.message : String(error));
      throw error;
    }
    if (!response.ok) report(`status ${response.status}`);
    return response;
  };
}
