/**
 * A deliberately small authorization server for the kit's own tests: discovery, an authorization endpoint that
 * fetches the client's metadata document, nothing else. Correct by default for the cases the tests select; each
 * `defect` reintroduces one mistake a real server could make, so a test can show the matching case fails.
 */

import { lookup } from 'node:dns/promises';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { Agent, fetch } from 'undici';

export interface Defects {
  /** Follows 3xx answers from the document host. */
  followsRedirects?: boolean;
  /** Skips the client_id equality check. */
  skipsClientIdCheck?: boolean;
  /** Caches every document for an hour, `no-store` included. */
  cachesNoStore?: boolean;
  /** No 5 KB limit on the document. */
  acceptsLargeDocuments?: boolean;
  /** Accepts a client id with a fragment (fetching it without the fragment). */
  acceptsFragments?: boolean;
  /** Matches redirect URIs by prefix instead of exactly. */
  prefixRedirectMatch?: boolean;
  /** Sends errors about an invalid document to the requested redirect_uri. */
  redirectsErrors?: boolean;
  /** Dials whatever the document host's name resolves to (no address check: SSRF). */
  dialsPrivate?: boolean;
  /** Checks the addresses, then lets the HTTP client resolve the name again (DNS rebinding gets through). */
  resolvesTwice?: boolean;
  /** Takes any 2xx answer as the document. */
  acceptsAny2xx?: boolean;
  /** Reads the body as JSON whatever its content type. */
  ignoresContentType?: boolean;
  /** Does not look for client_secret in the document. */
  acceptsSecrets?: boolean;
}

/** Public unicast, roughly (the kit's SSRF cases use only the ranges listed here). */
export function isPublic(address: string): boolean {
  if (net.isIPv4(address)) {
    const [a, b] = address.split('.').map(Number) as [number, number];
    return !(
      a === 0 ||
      a === 10 ||
      a === 127 ||
      (a === 100 && b >= 64 && b < 128) ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b < 32) ||
      (a === 192 && b === 168) ||
      a >= 224
    );
  }
  const lower = address.toLowerCase();
  return !(lower === '::1' || lower.startsWith('::ffff:') || /^f[c-f]/.test(lower) || lower === '::');
}

export interface TinyAs {
  issuer: string;
  close(): Promise<void>;
}

const LIMIT = 5120;

export async function startTinyAs(ca: string, defects: Defects = {}, port = 0): Promise<TinyAs> {
  const dispatcher = new Agent({ connect: { ca } });
  const cache = new Map<string, { doc: Record<string, unknown>; until: number }>();
  let issuer = '';

  async function load(cid: string): Promise<Record<string, unknown> | string> {
    const cached = cache.get(cid);
    if (cached && cached.until > Date.now()) return cached.doc;
    const target = new URL(cid.split('#')[0]!);
    let pinned = dispatcher;
    if (!defects.dialsPrivate && !net.isIP(target.hostname) && target.hostname !== 'localhost') {
      // Resolve once, refuse unless every address is public, and dial exactly the address checked.
      const addresses = await lookup(target.hostname, { all: true });
      if (addresses.length === 0 || addresses.some((a) => !isPublic(a.address))) return 'address not allowed';
      const chosen = addresses[0]!;
      if (!defects.resolvesTwice)
        pinned = new Agent({
          connect: {
            ca,
            lookup: (_host, _options, callback) => callback(null, [{ address: chosen.address, family: chosen.family }]),
          },
        });
    }
    const response = await fetch(target, {
      dispatcher: pinned,
      redirect: defects.followsRedirects ? 'follow' : 'manual',
      headers: { accept: 'application/json' },
    });
    const ok = defects.acceptsAny2xx ? response.status >= 200 && response.status < 300 : response.status === 200;
    if (!ok) return `status ${response.status}`;
    const type = response.headers.get('content-type') ?? '';
    if (!defects.ignoresContentType && !/^application\/([\w.-]+\+)?json\s*(;|$)/i.test(type)) return 'not JSON';
    const text = await response.text();
    if (!defects.acceptsLargeDocuments && Buffer.byteLength(text) > LIMIT) return 'too large';
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return 'not JSON';
    }
    if (!defects.skipsClientIdCheck && doc.client_id !== cid) return 'client_id mismatch';
    if (!defects.acceptsSecrets && ('client_secret' in doc || 'client_secret_expires_at' in doc))
      return 'client_secret';
    if (!Array.isArray(doc.redirect_uris) || doc.redirect_uris.length === 0) return 'no redirect_uris';
    const cacheControl = response.headers.get('cache-control') ?? '';
    if (defects.cachesNoStore || !/no-store/.test(cacheControl)) cache.set(cid, { doc, until: Date.now() + 3_600_000 });
    return doc;
  }

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    if (url.pathname === '/.well-known/oauth-authorization-server') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          response_types_supported: ['code'],
          code_challenge_methods_supported: ['S256'],
          token_endpoint_auth_methods_supported: ['none'],
          client_id_metadata_document_supported: true,
        }),
      );
      return;
    }
    if (url.pathname !== '/authorize') {
      res.writeHead(404).end();
      return;
    }
    const cid = url.searchParams.get('client_id') ?? '';
    const redirectUri = url.searchParams.get('redirect_uri') ?? '';
    const refuse = (why: string) => {
      if (defects.redirectsErrors && redirectUri) {
        res.writeHead(303, {
          location: `${redirectUri}?error=invalid_client&error_description=${encodeURIComponent(why)}`,
        });
        res.end();
        return;
      }
      res.writeHead(400, { 'content-type': 'text/html' });
      res.end(`<h1>invalid_client</h1><p>${why}</p>`);
    };
    const checked = defects.acceptsFragments ? cid.split('#')[0]! : cid;
    const parsed = URL.parse(checked);
    if (parsed?.protocol !== 'https:' || parsed.href !== checked || checked.includes('#')) {
      refuse('client_id is not a canonical https URL without a fragment');
      return;
    }
    let doc: Record<string, unknown> | string;
    try {
      doc = await load(cid);
    } catch (error) {
      refuse(`could not be retrieved: ${(error as Error).message}`);
      return;
    }
    if (typeof doc === 'string') {
      refuse(doc);
      return;
    }
    const registered = doc.redirect_uris as string[];
    const matches = defects.prefixRedirectMatch
      ? registered.some((uri) => redirectUri.startsWith(uri))
      : registered.includes(redirectUri);
    if (!matches) {
      res.writeHead(400, { 'content-type': 'text/html' });
      res.end('<h1>invalid_redirect_uri</h1>');
      return;
    }
    res.writeHead(303, { location: `${issuer}/login?client=${encodeURIComponent(cid)}` });
    res.end();
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  issuer = `http://localhost:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await dispatcher.close();
    },
  };
}
