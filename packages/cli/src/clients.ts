/**
 * `cimd clients`: the CIMD clients a deployment has seen, from the plugin's client registry in the shared store
 * (the one the servers write). Formatting only; the listing is `cimd.clients()`.
 */
import type { RegisteredClient } from 'oidc-provider-cimd';
import type { Style } from './io.js';
import { formatDuration } from './store.js';

const isRejection = (reason: string | undefined) =>
  reason !== undefined && (reason.startsWith('rejected:') || reason === 'rate_limited' || reason === 'revoked');

function outcome(client: RegisteredClient, style: Style): string {
  const reason = client.lastOutcome;
  if (reason === undefined) return style('dim', 'no resolution recorded');
  if (isRejection(reason)) return style('red', reason);
  if (reason === 'would_deny' || reason.startsWith('stale_')) return style('yellow', reason);
  return style('green', reason);
}

const ago = (ms: number) => (ms < 1000 ? 'just now' : `${formatDuration(ms)} ago`);

/** A client's name and where it comes from: its own document (supplied by the client) or the known-clients catalog. */
export type ClientNames = ReadonlyMap<string, { name: string; from: 'document' | 'catalog' }>;

// The name is the client's own text: shown on one line, without anything a terminal would interpret.
const printable = (text: string) => text.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, '\uFFFD').slice(0, 120);

export function formatClients(
  clients: readonly RegisteredClient[],
  style: Style,
  now: number,
  names: ClientNames = new Map(),
): string {
  if (clients.length === 0) {
    return 'no CIMD client seen yet (the registry fills as clients arrive; servers write it every few seconds)\n';
  }
  const lines = [`${clients.length} CIMD client${clients.length === 1 ? '' : 's'} seen, most recent first`];
  for (const client of clients) {
    const users = `${client.users}${client.usersCapped ? '+' : ''} user${client.users === 1 && !client.usersCapped ? '' : 's'}`;
    // In report mode a lookup says would_deny, then its own outcome: show both.
    const wouldDeny =
      client.lastWouldDenyAt !== undefined
        ? ` · ${style('yellow', 'would_deny')} ${ago(now - client.lastWouldDenyAt)}`
        : '';
    const named = names.get(client.clientId);
    const name = named
      ? named.from === 'document'
        ? `“${printable(named.name)}”`
        : `${printable(named.name)} ${style('dim', '(known client)')}`
      : style('dim', '(name unknown: not cached)');
    lines.push(
      `  ${style('bold', name)}  ${client.clientId}`,
      `    last ${outcome(client, style)}${wouldDeny} · last seen ${ago(now - client.lastSeen)} · first seen ${ago(now - client.firstSeen)} · ${users}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** JSON for `--json`: times as ISO strings next to the epoch milliseconds. */
export function clientsJson(
  clients: readonly RegisteredClient[],
  names: ClientNames = new Map(),
): Record<string, unknown> {
  return {
    clients: clients.map((client) => ({
      ...client,
      name: names.get(client.clientId)?.name,
      nameFrom: names.get(client.clientId)?.from,
      firstSeenAt: new Date(client.firstSeen).toISOString(),
      lastSeenAt: new Date(client.lastSeen).toISOString(),
    })),
  };
}
