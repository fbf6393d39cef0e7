/**
 * `cimd catalog drift`: does every document of the known-clients catalog still say what the snapshot shipped
 * with this version says? Each exact id of the catalog has its document as a snapshot in `catalog/` (named by
 * {@link snapshotFileName}); the live document is fetched through the server's own guarded fetcher and rules
 * (`checkClientId`), and compared with the snapshot read through the same rules (`checkDocument`): the fetch's
 * status and outcome, `client_id` equality, the effective token endpoint auth method, and the redirect URIs
 * added or removed. A maintainer runs it before a release and refreshes the catalog where it drifted.
 */
import { readFile } from 'node:fs/promises';
import { type KnownClient, knownClients } from 'oidc-provider-cimd';
import { type CheckOptions, checkClientId, checkDocument } from 'oidc-provider-cimd/check';
import type { Style } from './io.js';

/** The folder of the shipped snapshots (packages/cli/catalog, next to dist/). */
export const SNAPSHOT_DIR = new URL('../catalog/', import.meta.url);

/**
 * `https://claude.ai/oauth/claude-code-client-metadata` → `claude.ai_oauth_claude-code-client-metadata.json`,
 * `https://zed.dev/oauth/client-metadata.json` → `zed.dev_oauth_client-metadata.json`.
 */
export function snapshotFileName(clientId: string): string {
  const base = clientId.replace(/^https:\/\//, '').replace(/[^a-zA-Z0-9.-]+/g, '_');
  return base.endsWith('.json') ? base : `${base}.json`;
}

export interface CatalogDocument {
  client: string;
  clientId: string;
  /** The snapshot's text, or undefined when none is shipped. */
  snapshot: string | undefined;
}

/** Every exact id of the catalog (patterns name no single document), with its snapshot. */
export async function catalogDocuments(
  entries: readonly KnownClient[] = knownClients,
  dir: URL = SNAPSHOT_DIR,
): Promise<CatalogDocument[]> {
  const documents: CatalogDocument[] = [];
  for (const entry of entries) {
    for (const clientId of entry.patterns.filter((pattern) => !pattern.includes('*'))) {
      let snapshot: string | undefined;
      try {
        snapshot = await readFile(new URL(snapshotFileName(clientId), dir), 'utf8');
      } catch {
        snapshot = undefined;
      }
      documents.push({ client: entry.name, clientId, snapshot });
    }
  }
  return documents;
}

export type DriftKind =
  | 'no_snapshot'
  | 'snapshot_invalid'
  | 'unreachable'
  | 'rejected'
  | 'auth_method'
  | 'redirect_uris';

export interface Drift {
  kind: DriftKind;
  message: string;
}

export interface DriftResult {
  client: string;
  clientId: string;
  /** HTTP status of the live fetch; undefined when nothing answered. */
  status: number | undefined;
  drifted: boolean;
  drifts: Drift[];
  redirectUris?: { added: string[]; removed: string[] };
}

/** Fetches each document and compares it with its snapshot. `options` are `checkClientId`'s (ca, lookup, ...). */
export async function catalogDrift(
  documents: readonly CatalogDocument[],
  options: CheckOptions = {},
): Promise<DriftResult[]> {
  const results: DriftResult[] = [];
  for (const { client, clientId, snapshot } of documents) {
    const drifts: Drift[] = [];
    const live = await checkClientId(clientId, { jwks: false, ...options });
    const status = live.response?.status;
    if (live.client === undefined || !live.accepted) {
      const code = live.rejection?.code ?? 'rejected';
      const unreachable = code === 'rejected:network' || code === 'rejected:timeout' || code === 'rejected:address';
      drifts.push(
        unreachable
          ? { kind: 'unreachable', message: `could not be fetched (${code})` }
          : {
              kind: 'rejected',
              message: `the server would refuse it now: ${code}${live.rejection?.rule ? ` (${live.rejection.rule})` : ''}${status === undefined ? '' : `, status ${status}`}`,
            },
      );
    }
    let redirectUris: DriftResult['redirectUris'];
    if (snapshot === undefined) {
      drifts.push({ kind: 'no_snapshot', message: `no snapshot shipped (catalog/${snapshotFileName(clientId)})` });
    } else {
      const expected = checkDocument(snapshot, { ...options, clientId, jwks: false });
      if (!expected.client) {
        drifts.push({
          kind: 'snapshot_invalid',
          message: `the snapshot itself is refused (${expected.rejection?.code})`,
        });
      } else if (live.client) {
        const was = expected.client.tokenEndpointAuthMethod;
        const now = live.client.tokenEndpointAuthMethod;
        if (was !== now) drifts.push({ kind: 'auth_method', message: `auth method ${was} → ${now}` });
        const before = new Set(expected.client.redirectUris);
        const after = new Set(live.client.redirectUris);
        const added = [...after].filter((uri) => !before.has(uri));
        const removed = [...before].filter((uri) => !after.has(uri));
        redirectUris = { added, removed };
        if (added.length || removed.length) {
          drifts.push({
            kind: 'redirect_uris',
            message: `redirect_uris ${[...added.map((uri) => `+${uri}`), ...removed.map((uri) => `-${uri}`)].join(' ')}`,
          });
        }
      }
    }
    results.push({
      client,
      clientId,
      status,
      drifted: drifts.length > 0,
      drifts,
      ...(redirectUris ? { redirectUris } : {}),
    });
  }
  return results;
}

export function formatDrift(results: readonly DriftResult[], style: Style): string {
  const lines: string[] = [];
  for (const result of results) {
    const mark = result.drifted ? style('red', '✗') : style('green', '✓');
    const status = result.status === undefined ? 'no answer' : `status ${result.status}`;
    lines.push(`${mark} ${style('bold', result.client)}  ${result.clientId}  ${style('dim', status)}`);
    for (const drift of result.drifts) lines.push(`    ${drift.message}`);
  }
  const drifted = results.filter((result) => result.drifted).length;
  lines.push(
    '',
    drifted === 0
      ? `${style(['green', 'bold'], 'NO DRIFT')} ${results.length} documents match their snapshots`
      : `${style(['red', 'bold'], 'DRIFT')} ${drifted} of ${results.length} documents differ from their snapshots or could not be checked; update packages/oidc-provider-cimd/src/rules/known-clients.ts and the snapshots in packages/cli/catalog`,
  );
  return `${lines.join('\n')}\n`;
}
