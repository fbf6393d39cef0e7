/**
 * Human output of `cimd check`: one line per stage for what passed, one line (and a fix) per warning or
 * failure, then the client as the provider would see it and the verdict.
 */
import { buildConsentViewModel } from 'oidc-provider-cimd';
import type { CheckItem, CheckReport, CheckStage, ClientSummary } from 'oidc-provider-cimd/check';
import type { Style } from './io.js';

const STAGES: readonly { stage: CheckStage; label: string }[] = [
  { stage: 'url', label: 'url' },
  { stage: 'policy', label: 'policy' },
  { stage: 'fetch', label: 'fetch' },
  { stage: 'cache', label: 'cache' },
  { stage: 'document', label: 'document' },
  { stage: 'client', label: 'client' },
  { stage: 'redirect_uri', label: 'redirect' },
  { stage: 'jwks', label: 'jwks_uri' },
];
const LABEL_WIDTH = 9;

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;

function mark(style: Style, status: CheckItem['status']): string {
  switch (status) {
    case 'pass':
      return style('green', '✓');
    case 'warn':
      return style('yellow', '!');
    case 'fail':
      return style('red', '✗');
    default:
      return style('dim', '-');
  }
}

function itemLine(style: Style, label: string, item: CheckItem): string[] {
  const head = `${mark(style, item.status)} ${label.padEnd(LABEL_WIDTH)} `;
  const reason = item.code ? style('dim', `  [${item.code}${item.rule ? ` ${item.rule}` : ''}]`) : '';
  const lines = [`${head}${item.status === 'fail' ? style('bold', item.message) : item.message}${reason}`];
  if (item.fix && (item.status === 'fail' || item.status === 'warn')) {
    lines.push(`  ${' '.repeat(LABEL_WIDTH)} ${style('cyan', '→')} ${item.fix}`);
  }
  return lines;
}

/** What passed in a stage, in one line. */
function passSummary(stage: CheckStage, items: CheckItem[], report: CheckReport, others: boolean): string {
  if (stage === 'fetch' && report.response) {
    const { status, contentType, bytes } = report.response;
    return `${status}, ${contentType ?? 'no content-type'}, ${bytes} bytes`;
  }
  if (stage === 'cache') return items.map((item) => item.message).join('; ');
  if (stage === 'jwks' && report.jwks?.ok && report.jwks.keys !== undefined) {
    const { keys, keyTypes } = report.jwks;
    return `${report.jwks.uri}: ${plural(keys, 'public key')}${keyTypes && keyTypes.length > 0 ? ` (${keyTypes.join(', ')})` : ''}`;
  }
  if (stage === 'redirect_uri') return items.map((item) => item.message).join('; ');
  return others ? `${plural(items.length, 'other rule')} pass` : `all ${plural(items.length, 'rule')} pass`;
}

function formatClient(style: Style, client: ClientSummary, report: CheckReport): string[] {
  const rows: [string, string][] = [];
  const withDropped = (kept: string[], dropped: string[]) =>
    `${kept.length > 0 ? kept.join(', ') : '(none)'}${dropped.length > 0 ? style('yellow', `  (dropped: ${dropped.join(', ')})`) : ''}`;
  rows.push(['name', client.clientName ?? '(none)']);
  rows.push([
    'type',
    `${client.applicationType}${client.applicationTypeInferred ? style('dim', ' (inferred from the redirect URIs)') : ''}`,
  ]);
  rows.push(['auth method', client.tokenEndpointAuthMethod]);
  rows.push(['grant types', withDropped(client.grantTypes.kept, client.grantTypes.dropped)]);
  rows.push(['response types', withDropped(client.responseTypes.kept, client.responseTypes.dropped)]);
  if (client.responseModes) {
    rows.push(['response modes', withDropped(client.responseModes.kept, client.responseModes.dropped)]);
  }
  rows.push(['scope', withDropped(client.scope.kept, client.scope.dropped)]);
  client.redirectUris.forEach((uri, index) => {
    rows.push([index === 0 ? 'redirect URIs' : '', uri]);
  });
  if (report.redirectUri) {
    rows.push([
      'redirect_uri',
      `${report.redirectUri.uri} ${report.redirectUri.accepted ? style('green', 'accepted') : style('red', 'not accepted')}`,
    ]);
  }
  const width = Math.max(...rows.map(([name]) => name.length));
  return [
    style('bold', 'Client as the provider sees it'),
    ...rows.map(([name, value]) => `  ${name.padEnd(width)}  ${value}`),
    '',
    ...consentPreview(style, client, report),
  ];
}

/**
 * What the provider's consent page will say, from the very function the provider's page is built with
 * (`buildConsentViewModel`): the names it shows and its warnings, for the requested redirect URI (or, without
 * --redirect-uri, the document's first). A first authorization, by a user who has not approved the client before;
 * the new-client notice depends on the server's records and is not predicted.
 */
export function consentPreview(style: Style, client: ClientSummary, report: CheckReport): string[] {
  const redirectUri = report.redirectUri?.uri ?? client.redirectUris[0];
  const view = buildConsentViewModel({
    uid: '',
    params: { client_id: report.clientId, ...(redirectUri !== undefined ? { redirect_uri: redirectUri } : {}) },
    promptDetails: {},
    accountId: undefined,
    clientId: report.clientId,
    metadata: client.metadata as Readonly<Record<string, unknown>>,
    isMetadataDocumentClient: report.clientId.startsWith('https://'),
    logoUrl: undefined,
    // The preview renders no Allow form, so it binds no approval to a document (the provider's page does).
    documentFingerprint: '',
    trusted: false,
    newClient: undefined,
    changes: [],
    now: Date.now(),
  });
  const lines = [
    style('bold', `On the consent page${redirectUri !== undefined ? ` (redirect_uri ${redirectUri})` : ''}`),
    `  client host     ${view.clientHost ?? report.clientId}`,
    `  name            ${view.clientName ? `“${view.clientName.display}” (supplied by the client)` : '(none)'}`,
    `  returns to      ${view.redirectHost ?? '(unknown)'}`,
  ];
  for (const warning of view.warnings) {
    const colour = warning.severity === 'danger' ? 'red' : 'yellow';
    lines.push(`  ${style(colour, warning.title)}`, `    ${warning.text}`);
  }
  if (view.warnings.length === 0) lines.push(style('dim', '  no warning'));
  return lines;
}

export interface FormatOptions {
  /** List every rule, passes and skips included. */
  verbose?: boolean;
}

export function formatCheckReport(report: CheckReport, style: Style, options: FormatOptions = {}): string {
  const lines: string[] = [];
  lines.push(`${style('bold', 'cimd check')} ${report.clientId || '(no client_id)'}`);
  lines.push(style('dim', `issuer ${report.issuer} · ${report.source === 'file' ? 'local document' : 'fetched'}`));
  lines.push('');

  for (const { stage, label } of STAGES) {
    const items = report.checks.filter((item) => item.stage === stage);
    if (items.length === 0) continue;
    if (options.verbose) {
      for (const item of items) lines.push(...itemLine(style, label, item));
      continue;
    }
    const passed = items.filter((item) => item.status === 'pass');
    const skipped = items.filter((item) => item.status === 'skip');
    for (const item of items)
      if (item.status === 'fail' || item.status === 'warn') lines.push(...itemLine(style, label, item));
    if (passed.length > 0) {
      lines.push(
        `${mark(style, 'pass')} ${label.padEnd(LABEL_WIDTH)} ${passSummary(stage, passed, report, passed.length < items.length)}`,
      );
    }
    if (skipped.length === 1 && passed.length === 0 && items.length === 1) {
      lines.push(`${mark(style, 'skip')} ${label.padEnd(LABEL_WIDTH)} ${style('dim', skipped[0]!.message)}`);
    } else if (skipped.length > 0) {
      const what = stage === 'fetch' ? 'steps' : 'rules';
      lines.push(
        `${mark(style, 'skip')} ${label.padEnd(LABEL_WIDTH)} ${style('dim', `${skipped.length} ${what} not checked (the server stops at the first failure; fix it and check again)`)}`,
      );
    }
  }

  if (report.client) {
    lines.push('');
    lines.push(...formatClient(style, report.client, report));
  }

  lines.push('');
  if (report.accepted) {
    const warnings = report.checks.filter((item) => item.status === 'warn').length;
    lines.push(
      `${style(['green', 'bold'], 'ACCEPTED')} the server would accept this client${warnings > 0 ? ` (${plural(warnings, 'warning')})` : ''}`,
    );
  } else {
    const rejection = report.rejection;
    const reason =
      rejection?.stage === 'jwks'
        ? `the client can authorize, but its token requests fail with invalid_client: the JWK Set at jwks_uri is unusable (${rejection.code}${rejection.rule ? ` ${rejection.rule}` : ''})`
        : rejection?.code
          ? `${rejection.code}${rejection.rule ? ` (${rejection.rule})` : ''}${rejection.publicMessage ? `; users see "${rejection.publicMessage}"` : ''}`
          : `the client is accepted, but not with redirect_uri ${report.redirectUri?.uri ?? ''}: users see an invalid_redirect_uri error page`;
    lines.push(`${style(['red', 'bold'], 'REJECTED')} ${reason}`);
  }
  return `${lines.join('\n')}\n`;
}
