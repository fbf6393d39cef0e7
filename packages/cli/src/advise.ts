/**
 * `cimd advise`: the client-id advisor's predictions (the plugin's `adviseClients`, the same the discovery
 * self-check reports), formatted. Formatting only.
 */
import type { ClientAdvice } from 'oidc-provider-cimd';
import type { Style } from './io.js';

const OUTCOME: Record<ClientAdvice['outcome'], string> = {
  cimd: 'signs in with CIMD',
  dcr: 'falls back to Dynamic Client Registration',
  fails: 'cannot sign in',
};

export function formatAdvice(source: string, advice: readonly ClientAdvice[], style: Style): string {
  const lines = [`cimd advise ${source}`, ''];
  for (const client of advice) {
    const colour = client.outcome === 'cimd' ? 'green' : client.outcome === 'dcr' ? 'yellow' : 'red';
    const mark = client.outcome === 'cimd' ? '✓' : client.outcome === 'dcr' ? '!' : '✗';
    lines.push(`${style(colour, mark)} ${style('bold', client.client)}  ${style(colour, OUTCOME[client.outcome])}`);
    if (client.clientId) {
      lines.push(`    client_id    ${client.clientId.id}  ${style('dim', `(source: ${client.clientId.source})`)}`);
    }
    if (client.authMethod) {
      lines.push(
        `    auth method  ${client.authMethod.method}  ${style('dim', `(source: ${client.authMethod.source})`)}`,
      );
    }
    for (const problem of client.problems) {
      const tag = problem.severity === 'fail' ? style('red', 'fails') : style('dim', 'note ');
      lines.push(`    ${tag}        ${problem.message}  ${style('dim', `(source: ${problem.source})`)}`);
    }
  }
  const failing = advice.filter((client) => client.outcome !== 'cimd');
  lines.push(
    '',
    failing.length === 0
      ? `${style(['green', 'bold'], 'OK')} every known client can sign in with its client metadata document`
      : `${style(['red', 'bold'], 'PROBLEMS')} ${failing.map((client) => client.client).join(', ')} will not sign in with CIMD here`,
  );
  return `${lines.join('\n')}\n`;
}
