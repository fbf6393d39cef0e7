/**
 * The stored form of a client's entry, and how older forms are read. One record per CID, under
 * `<prefix>cimd:doc:<cid>` (the key the previous release wrote, so an upgrade loses nothing):
 *
 *   { "value": { "v": 3, "rev": <revision>, "pinned": true?, "entry": <CacheEntry> | null }, "expires": <ms> | null }
 *
 * The envelope is Keyv's (`value`, `expires`), so a Keyv store reads and expires it as before. `rev` is the
 * entry's revision: every commit (cache/commit-store.ts) checks it and raises it by one. `entry: null` is a
 * tombstone: the entry was deleted (purge, unpin, revocation, `no-store`), and the tombstone keeps the revision
 * for a short while so that a lookup that read the entry before the deletion cannot bring it back. `pinned` is
 * repeated at the top of the record so the commit script can read it without decoding the entry.
 *
 * A record without `rev` is an entry of an earlier release (format 1 or 2): it reads as revision 0, and is
 * judged again under today's rules before it is served (resolve/judge.ts), like any entry whose `rules`
 * fingerprint is not today's.
 */
import { type ClientMetadata, isGrantWithoutUser } from './client-metadata.js';

export interface CacheEntry {
  /**
   * Format version of the entry. 2: grants in which no user takes part are dropped at validation unless
   * the trust policy grants them (draft-03 era rules). Version-1 entries predate that rule, and are read with
   * those grants removed (see `upgrade`), then judged again under today's rules.
   */
  v: 2;
  cid: string;
  metadata: ClientMetadata;
  loopbackOnly: boolean;
  fetchedAt: number;
  freshUntil: number;
  /** Until when the entry may stand in for a failed refresh (equals freshUntil without stale-if-error). */
  staleIfErrorUntil: number;
  etag?: string;
  lastModified?: string;
  /** Pinned entries are kept until an operator unpins them and are never refetched. */
  pinned?: boolean;
  /**
   * The client completed an authorization (a user approved it). Only such clients keep their document in the
   * shared store past its freshness lifetime (stale-if-error, the transport fallback, the revalidation grace):
   * documents of ids that never completed an authorization are the ones an attacker can mint without limit, and
   * they leave the store when they go stale (bounded shared-store growth).
   */
  used?: boolean;
  /**
   * Fingerprint of the rules that judged `metadata` (resolve/judge.ts). An instance whose rules have another
   * fingerprint validates `document` again before it serves the entry. Absent on entries of earlier releases.
   */
  rules?: string;
  /** The document as the origin served it (at most `maxBodyBytes`), for judging it again without fetching. */
  document?: string;
  /** When an operator `refresh()` last fetched this entry successfully (the refresh cooldown counts from it). */
  refreshedAt?: number;
}

/** What a read of the shared store found: the entry (none for a tombstone or an empty key) and its revision. */
export interface StoredRecord {
  rev: number;
  entry: CacheEntry | undefined;
}

/** Key of a client's record in the shared store (the store may add its own namespace). */
export const DOCUMENT_KEY_PREFIX = 'cimd:doc:';
/** Key of a pin on a store without commit scripts (a plain Keyv store): only operator commands write it. */
export const PIN_KEY_PREFIX = 'cimd:pin:';

/**
 * A stored entry written by an earlier version (format 1) may name grants in which no user takes part
 * (`client_credentials`, CIBA …), which a self-asserted document must never get unless the trust policy grants
 * them (SPEC.metadataDocument, RFC 7591 §2). It is read with those grants removed.
 */
function upgrade(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || (value as { v?: unknown }).v !== 1) return value;
  const entry = value as { metadata?: { grant_types?: unknown } };
  const grants = entry.metadata?.grant_types;
  const metadata =
    entry.metadata && Array.isArray(grants)
      ? { ...entry.metadata, grant_types: grants.filter((g) => typeof g === 'string' && !isGrantWithoutUser(g)) }
      : entry.metadata;
  return { ...entry, metadata, v: 2 };
}

function isEntry(value: unknown): value is CacheEntry {
  if (value === null || typeof value !== 'object') return false;
  const entry = value as Partial<CacheEntry>;
  return (
    entry.v === 2 &&
    typeof entry.cid === 'string' &&
    typeof entry.fetchedAt === 'number' &&
    typeof entry.freshUntil === 'number' &&
    typeof entry.staleIfErrorUntil === 'number' &&
    typeof entry.loopbackOnly === 'boolean' &&
    entry.metadata !== null &&
    typeof entry.metadata === 'object' &&
    (entry.rules === undefined || typeof entry.rules === 'string') &&
    (entry.document === undefined || typeof entry.document === 'string')
  );
}

/**
 * Reads a record's `value` (the part inside Keyv's envelope). The store may hold anything (another version, a
 * tampered value): only a well-formed entry for this very CID counts; anything else reads as no entry.
 */
export function decodeRecord(value: unknown, cid: string): StoredRecord {
  if (value === null || typeof value !== 'object') return { rev: 0, entry: undefined };
  const record = value as { v?: unknown; rev?: unknown; entry?: unknown };
  if (record.v === 3) {
    const rev = typeof record.rev === 'number' && Number.isSafeInteger(record.rev) ? record.rev : 0;
    const entry = upgrade(record.entry);
    return { rev, entry: isEntry(entry) && entry.cid === cid ? entry : undefined };
  }
  // An entry of an earlier release, stored bare.
  const entry = upgrade(value);
  return { rev: 0, entry: isEntry(entry) && entry.cid === cid ? entry : undefined };
}

/**
 * Keyv's serializer (@keyv/serialize) writes a string that starts with `:` with one more `:` (and Buffers as
 * `:base64:...`); records written by the commit script follow the same convention, so that a Keyv reading the
 * same key decodes them exactly, and an entry written by Keyv decodes exactly here.
 */
const escapeStrings = (_key: string, value: unknown) =>
  typeof value === 'string' && value.startsWith(':') ? `:${value}` : value;
const unescapeStrings = (_key: string, value: unknown) =>
  typeof value === 'string' && value.startsWith(':') ? value.slice(1) : value;

/** The inside of a record after `"rev":N` (see the commit script): `,"pinned":true,"entry":{...}` or `,"entry":null`. */
export function recordTail(entry: CacheEntry | undefined): string {
  if (!entry) return ',"entry":null';
  return `${entry.pinned ? ',"pinned":true' : ''},"entry":${JSON.stringify(entry, escapeStrings)}`;
}

/** The `value` of a raw Keyv envelope read straight from Redis; undefined for anything unreadable. */
export function parseEnvelope(raw: unknown): unknown {
  if (typeof raw !== 'string') return undefined;
  try {
    const envelope = JSON.parse(raw, unescapeStrings) as { value?: unknown } | null;
    return envelope !== null && typeof envelope === 'object' ? envelope.value : undefined;
  } catch {
    return undefined;
  }
}

/** What a read found. `rev` is the shared store's revision of the record; `undefined` when the store did not answer. */
export interface CacheRead {
  entry: CacheEntry | undefined;
  rev: number | undefined;
  tier: 'memory' | 'shared';
  /** The shared store was not consulted because it did not answer (down, slow, or its circuit open). */
  sharedSkipped?: true;
}

/** What the operator API's `inspect()` reports about a cached client. */
export interface CacheInspection {
  entry: CacheEntry;
  tier: 'memory' | 'shared';
  fresh: boolean;
  ageMs: number;
  expiresInMs: number;
}
