/** The side-by-side table: one row per case family, one column per server, then a per-case appendix. */
import type { RunReport } from '../src/types.js';
import { FAMILIES } from '../src/types.js';

export interface PeerReport {
  peer: { name: string; version: string; notRun?: string };
  report?: RunReport;
}

const cell = (report: RunReport | undefined, filter: (r: RunReport['results'][number]) => boolean) => {
  if (!report) return 'not run';
  const rows = report.results.filter(filter);
  const run = rows.filter((r) => r.status !== 'not-run');
  if (!run.length) return rows.length ? 'not run' : '-';
  const pass = run.filter((r) => r.status === 'pass').length;
  const mustFail = run.filter((r) => r.status === 'fail' && r.level === 'MUST').length;
  return `${pass}/${run.length}${mustFail ? ` (${mustFail} MUST failed)` : ''}`;
};

export function peersTable(peers: PeerReport[], date: Date): string {
  const lines: string[] = [];
  const modes = [
    ...new Set(peers.flatMap((p) => (p.report ? [p.report.mode === 'netns' ? 'namespace' : 'development'] : []))),
  ];
  lines.push(
    `Measured ${date.toISOString().slice(0, 10)} in ${modes.join(' and ') || 'no'} mode (cases passed / cases run; "n MUST failed" counts MUST cases among the failures).`,
    '',
  );
  lines.push(`| Family | ${peers.map((p) => p.peer.name).join(' | ')} |`);
  lines.push(`| --- | ${peers.map(() => '---').join(' | ')} |`);
  for (const family of FAMILIES)
    lines.push(`| ${family} | ${peers.map((p) => cell(p.report, (r) => r.family === family)).join(' | ')} |`);
  lines.push(`| **all** | ${peers.map((p) => cell(p.report, () => true)).join(' | ')} |`);
  lines.push(`| MUST only | ${peers.map((p) => cell(p.report, (r) => r.level === 'MUST')).join(' | ')} |`);
  lines.push('', 'Versions and notes:', '');
  for (const p of peers) {
    const mode = p.report ? ` (${p.report.mode === 'netns' ? 'namespace' : 'development'} mode)` : '';
    lines.push(`- ${p.peer.name}: ${p.peer.version}${mode}${p.peer.notRun ? ` — ${p.peer.notRun}` : ''}`);
  }
  const ran = peers.filter((p) => p.report);
  const first = ran[0]?.report;
  if (first) {
    lines.push('', '<details><summary>Per-case results</summary>', '');
    lines.push(`| Case | Level | ${ran.map((p) => p.peer.name).join(' | ')} |`);
    lines.push(`| --- | --- | ${ran.map(() => '---').join(' | ')} |`);
    for (const r of first.results) {
      const cells = ran.map((p) => {
        const x = p.report?.results.find((y) => y.id === r.id);
        return x ? (x.status === 'pass' ? 'pass' : x.status === 'fail' ? '**fail**' : 'n/a') : '-';
      });
      lines.push(`| \`${r.id}\` | ${r.level} | ${cells.join(' | ')} |`);
    }
    lines.push('', '</details>');
  }
  return lines.join('\n');
}
