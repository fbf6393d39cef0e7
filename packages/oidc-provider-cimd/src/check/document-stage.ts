/**
 * The document stage: the document rules, a repair loop that shows every problem at once, the normalised
 * client, and the redirect URI.
 */

import { DOCUMENT_RULES, type DocumentRuleId, type RuleId, ruleFix } from '../core/catalogue.js';
import { type CimdError, isCimdError } from '../core/errors.js';
import { type NormalisedDocument, validateDocument } from '../rules/document.js';
import { redirectUriMatches } from '../rules/redirect-uris.js';
import type { Resolved } from './options.js';
import type { CheckItem, CheckReport, ClientSummary } from './report.js';

export const DOCUMENT_RULE_IDS = Object.keys(DOCUMENT_RULES) as DocumentRuleId[];

export type Validation = { ok: true; result: NormalisedDocument } | { ok: false; error: CimdError };

export function validate(body: string | Uint8Array, cid: string, resolved: Resolved): Validation {
  try {
    return {
      ok: true,
      result: validateDocument(body, cid, resolved.capabilities, resolved.pipeline.documentRules),
    };
  } catch (error) {
    if (isCimdError(error)) return { ok: false, error };
    throw error;
  }
}

/** After these, nothing else can be judged: there is no object to read. */
export const FATAL_DOCUMENT_RULES: ReadonlySet<RuleId | undefined> = new Set([
  'json',
  'duplicate_member',
  'not_object',
]);

/**
 * Repairs `doc` (in place) so that the rule that failed passes, to let the next run reach later rules.
 * Returns false when there is nothing sensible to repair. Each repair removes or corrects what the rule
 * named; it never adds a value that could make a later rule pass by accident, except placeholders for the
 * two members every rule run needs (`client_id`, `client_name`).
 */
export function repair(doc: Record<string, unknown>, rule: RuleId | undefined, cid: string): boolean {
  if (rule === undefined) return false;
  if (rule === 'client_id') {
    if (doc.client_id === cid) return false;
    doc.client_id = cid;
    return true;
  }
  if (rule === 'client_name') {
    if (doc.client_name === 'client') return false;
    doc.client_name = 'client';
    return true;
  }
  if (rule === 'jwks' && !Object.hasOwn(doc, 'jwks')) {
    // A key-based auth method without keys: fall back to the default method.
    const had =
      Object.hasOwn(doc, 'token_endpoint_auth_method') || Object.hasOwn(doc, 'token_endpoint_auth_methods_supported');
    delete doc.token_endpoint_auth_method;
    delete doc.token_endpoint_auth_methods_supported;
    return had;
  }
  if (rule === 'grant_types' && !Object.hasOwn(doc, 'grant_types')) {
    if (!Object.hasOwn(doc, 'response_types')) return false;
    delete doc.response_types;
    return true;
  }
  if (Object.hasOwn(doc, rule)) {
    delete doc[rule];
    return true;
  }
  return false;
}

/** Redirect URIs that fail the rules on their own, each with the rule's message. */
export function offendingRedirectUris(
  doc: Record<string, unknown>,
  cid: string,
  resolved: Resolved,
): { uri: string; message: string }[] {
  const uris = doc.redirect_uris;
  if (!Array.isArray(uris)) return [];
  const offending: { uri: string; message: string }[] = [];
  for (const uri of uris) {
    if (typeof uri !== 'string') continue;
    const single = validate(JSON.stringify({ ...doc, redirect_uris: [uri] }), cid, resolved);
    if (!single.ok && single.error.rule === 'redirect_uris') offending.push({ uri, message: single.error.message });
  }
  return offending;
}

export function documentFailure(error: CimdError, cid: string, message = error.message): CheckItem {
  return {
    stage: 'document',
    id: `document:${error.rule ?? 'document'}`,
    status: 'fail',
    message,
    code: error.code,
    ...(error.rule ? { rule: error.rule, fix: ruleFix(error.rule, cid) } : { fix: 'fix the member named by the rule' }),
  };
}

export interface DocumentOutcome {
  items: CheckItem[];
  validated?: NormalisedDocument;
  firstError?: CimdError;
}

export function runDocumentRules(body: string | Uint8Array, cid: string, resolved: Resolved): DocumentOutcome {
  const first = validate(body, cid, resolved);
  const passAll = (failed: CheckItem[], reachedEnd: boolean): CheckItem[] => {
    const items: CheckItem[] = [];
    for (const rule of DOCUMENT_RULE_IDS) {
      const failures = failed.filter((item) => item.rule === rule);
      if (failures.length > 0) items.push(...failures);
      else {
        items.push({
          stage: 'document',
          id: `document:${rule}`,
          status: reachedEnd ? 'pass' : 'skip',
          message: DOCUMENT_RULES[rule].requires,
        });
      }
    }
    // A document rule reports only catalogue ids (the type says so); anything else still shows up.
    for (const item of failed) if (!DOCUMENT_RULE_IDS.includes(item.rule as DocumentRuleId)) items.push(item);
    return items;
  };
  if (first.ok) return { items: passAll([], true), validated: first.result };

  const failures: CheckItem[] = [];
  const firstError = first.error;
  const record = (error: CimdError, doc: Record<string, unknown> | undefined): void => {
    if (error.rule === 'redirect_uris' && doc) {
      const offending = offendingRedirectUris(doc, cid, resolved);
      if (offending.length > 0) {
        for (const { uri, message } of offending) failures.push(documentFailure(error, cid, `${uri}: ${message}`));
        return;
      }
    }
    failures.push(documentFailure(error, cid));
  };

  if (FATAL_DOCUMENT_RULES.has(firstError.rule)) {
    record(firstError, undefined);
    return { items: passAll(failures, false), firstError };
  }
  // The strict parser accepted the text, so the plain parser reads the same object.
  const text = typeof body === 'string' ? body : new TextDecoder().decode(body);
  const doc = JSON.parse(text) as Record<string, unknown>;
  let error = firstError;
  for (let round = 0; round < 32; round += 1) {
    record(error, doc);
    let repaired: boolean;
    if (error.rule === 'redirect_uris') {
      const offending = new Set(offendingRedirectUris(doc, cid, resolved).map(({ uri }) => uri));
      const uris = Array.isArray(doc.redirect_uris) ? doc.redirect_uris : [];
      const kept = uris.filter((uri) => !offending.has(uri as string));
      repaired = offending.size > 0 && kept.length > 0;
      if (repaired) doc.redirect_uris = kept;
    } else {
      repaired = repair(doc, error.rule, cid);
    }
    if (!repaired) return { items: passAll(failures, false), firstError };
    const next = validate(JSON.stringify(doc), cid, resolved);
    if (next.ok) return { items: passAll(failures, true), firstError };
    error = next.error;
  }
  return { items: passAll(failures, false), firstError };
}

export function summarise(validated: NormalisedDocument, raw: Record<string, unknown>): ClientSummary {
  const { metadata, dropped, loopbackOnly } = validated;
  const list = (value: unknown): string[] => (Array.isArray(value) ? (value as string[]) : []);
  const scope = typeof metadata.scope === 'string' ? metadata.scope.split(' ') : [];
  return {
    clientName: typeof metadata.client_name === 'string' ? metadata.client_name : undefined,
    applicationType: metadata.application_type === 'native' ? 'native' : 'web',
    applicationTypeInferred: raw.application_type === undefined || raw.application_type === null,
    loopbackOnly,
    tokenEndpointAuthMethod: metadata.token_endpoint_auth_method,
    redirectUris: metadata.redirect_uris ?? [],
    grantTypes: { kept: list(metadata.grant_types), dropped: dropped.grantTypes },
    responseTypes: { kept: list(metadata.response_types), dropped: dropped.responseTypes },
    responseModes:
      metadata.response_modes === undefined && dropped.responseModes.length === 0
        ? undefined
        : { kept: list(metadata.response_modes), dropped: dropped.responseModes },
    scope: { kept: scope, dropped: dropped.scopes },
    metadata,
  };
}

export function clientItems(client: ClientSummary): CheckItem[] {
  const items: CheckItem[] = [];
  const droppedWarning = (id: string, member: string, values: string[], fix: string): void => {
    if (values.length === 0) return;
    items.push({
      stage: 'client',
      id: `client:${id}`,
      status: 'warn',
      message: `${member}: ${values.join(', ')} ${values.length === 1 ? 'is' : 'are'} not supported by this server and dropped`,
      fix,
    });
  };
  if (client.loopbackOnly) {
    items.push({
      stage: 'client',
      id: 'client:loopback_only',
      status: 'warn',
      message: 'every redirect URI is loopback: users get a consent prompt, with a warning, on every authorization',
      fix: 'expected for native and command-line apps; a web app should register its https redirect URI',
    });
  }
  droppedWarning(
    'grant_types',
    'grant_types',
    client.grantTypes.dropped,
    'harmless unless the client needs them; a request using a dropped grant type fails',
  );
  droppedWarning(
    'response_types',
    'response_types',
    client.responseTypes.dropped,
    'harmless unless the client needs them; use "code"',
  );
  droppedWarning(
    'response_modes',
    'response_modes',
    client.responseModes?.dropped ?? [],
    'harmless unless the client needs them',
  );
  droppedWarning(
    'scope',
    'scope',
    client.scope.dropped,
    'the client can still request them; the server grants only scopes it supports',
  );
  return items;
}

export function redirectItem(uri: string, client: ClientSummary | undefined): { item: CheckItem; accepted: boolean } {
  if (!client) {
    return {
      accepted: false,
      item: {
        stage: 'redirect_uri',
        id: 'redirect_uri:match',
        status: 'skip',
        message: `${uri}: not checked, the document is rejected`,
      },
    };
  }
  const native = client.applicationType === 'native';
  const accepted = redirectUriMatches(client.redirectUris, uri, native);
  return {
    accepted,
    item: accepted
      ? {
          stage: 'redirect_uri',
          id: 'redirect_uri:match',
          status: 'pass',
          message: client.redirectUris.includes(uri)
            ? `${uri} is registered`
            : `${uri} matches a loopback redirect URI (any port, native client)`,
        }
      : {
          stage: 'redirect_uri',
          id: 'redirect_uri:match',
          status: 'fail',
          message: `${uri} is not among the redirect URIs (compared exactly${native ? '; loopback http URIs on any port' : ''})`,
          rule: 'redirect_uri',
          fix: `add ${JSON.stringify(uri)} to "redirect_uris" exactly as the client sends it`,
        },
  };
}

// ---------------------------------------------------------------------------------------------------------------

export function documentStages(
  body: string | Uint8Array,
  cid: string,
  resolved: Resolved,
  redirectUri: string | undefined,
): { items: CheckItem[]; client?: ClientSummary; redirect?: CheckReport['redirectUri']; firstError?: CimdError } {
  const outcome = runDocumentRules(body, cid, resolved);
  const items = [...outcome.items];
  let client: ClientSummary | undefined;
  if (outcome.validated) {
    const raw = JSON.parse(typeof body === 'string' ? body : new TextDecoder().decode(body)) as Record<string, unknown>;
    client = summarise(outcome.validated, raw);
    items.push(...clientItems(client));
  }
  let redirect: CheckReport['redirectUri'];
  if (redirectUri !== undefined) {
    const { item, accepted } = redirectItem(redirectUri, client);
    items.push(item);
    redirect = { uri: redirectUri, accepted };
  }
  return {
    items,
    ...(client ? { client } : {}),
    ...(redirect ? { redirect } : {}),
    ...(outcome.firstError ? { firstError: outcome.firstError } : {}),
  };
}
