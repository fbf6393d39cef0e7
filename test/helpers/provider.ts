/**
 * Starts an oidc-provider 9 configured through the plugin on 127.0.0.1, with an interaction handler that
 * approves everything, so that provider-level tests exercise real HTTP.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Configuration, Provider } from 'oidc-provider';
import { type CimdEvent, type CimdOptions, createCimd } from 'oidc-provider-cimd';

export interface TestProvider {
  issuer: string;
  provider: Provider;
  cimd: ReturnType<typeof createCimd>;
  events: CimdEvent[];
  close(): Promise<void>;
}

/** Auto-approving interactions: login as `alice`, grant every requested scope. */
function autoInteractions(provider: Provider): http.RequestListener {
  const callback = provider.callback();
  return (req, res) => {
    const match = /^\/interaction\/([^/?]+)/.exec(req.url ?? '');
    if (!match) {
      callback(req, res);
      return;
    }
    (async () => {
      const details = await provider.interactionDetails(req, res);
      if (details.prompt.name === 'login') {
        await provider.interactionFinished(
          req,
          res,
          { login: { accountId: 'alice' } },
          { mergeWithLastSubmission: false },
        );
        return;
      }
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session!.accountId, clientId: details.params.client_id as string });
      const scope = details.params.scope;
      if (typeof scope === 'string') grant!.addOIDCScope(scope);
      const grantId = await grant!.save();
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    })().catch((error: unknown) => {
      res.statusCode = 500;
      res.end(String(error));
    });
  };
}

export async function startProvider(
  options: { cimd?: CimdOptions; config?: Configuration; port?: number } = {},
): Promise<TestProvider> {
  const server = http.createServer();
  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const issuer = `http://localhost:${port}`;
  const events: CimdEvent[] = [];
  const cimd = createCimd({
    issuer,
    failureBackoffMs: 0,
    // Provider tests serve many documents from one local host; the per-host budget has its own tests.
    budget: { perHostBurst: 10_000 },
    ...options.cimd,
    onEvent: (event) => {
      events.push(event);
      options.cimd?.onEvent?.(event);
    },
  });
  const provider = new Provider(
    issuer,
    cimd.configure({
      features: { devInteractions: { enabled: false }, registration: { enabled: true } },
      ...options.config,
    }),
  );
  server.on('request', autoInteractions(provider));
  return {
    issuer,
    provider,
    cimd,
    events,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await cimd.close();
    },
  };
}
