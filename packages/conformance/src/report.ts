/** The three outputs: a readable table on the terminal, JSON, and JUnit XML for CI. */
import { type CaseResult, FAMILIES, type RunReport } from './types.js';

const MARK = { pass: 'PASS', fail: 'FAIL', 'not-run': 'n/a ' } as const;

function pad(text: string, width: number): string {
  return text.length >= width ? text.slice(0, width) : text + ' '.repeat(width - text.length);
}

/** One line per case, families as headings, then the failures with what was sent and received, then totals. */
export function formatTable(report: RunReport, { verbose = false } = {}): string {
  const lines: string[] = [];
  lines.push(`cimd-conformance ${report.tool.version} against ${report.issuer} (${report.mode} mode)`);
  for (const family of FAMILIES) {
    const rows = report.results.filter((r) => r.family === family);
    if (!rows.length) continue;
    const passed = rows.filter((r) => r.status === 'pass').length;
    const run = rows.filter((r) => r.status !== 'not-run').length;
    lines.push('', `${family} (${passed}/${run} passed${run < rows.length ? `, ${rows.length - run} not run` : ''})`);
    for (const r of rows) {
      lines.push(`  ${MARK[r.status]}  ${pad(r.level, 6)} ${pad(r.id, 44)} ${r.title}`);
      if (r.status === 'fail' || verbose) lines.push(`        ${r.detail}   [${r.cite}]`);
    }
  }
  const failures = report.results.filter((r) => r.status === 'fail');
  if (failures.length) {
    lines.push('', 'Answers outside expectations (what was sent, what came back):');
    for (const r of failures) lines.push(...describeExchanges(r));
  }
  const notRun = report.results.filter((r) => r.status === 'not-run');
  const reasons = [...new Set(notRun.map((r) => r.detail))];
  if (reasons.length) lines.push('', `Not run (${notRun.length}): ${reasons.join(' | ')}`);
  const s = report.summary;
  const musts = report.results.filter((r) => r.level === 'MUST' && r.status !== 'not-run');
  lines.push(
    '',
    `${s.pass} passed, ${s.fail} failed, ${s.notRun} not run of ${s.total} cases; MUST: ${musts.length - s.mustFailed}/${musts.length} passed.`,
    s.mustFailed === 0 ? 'Result: every MUST case passes.' : `Result: ${s.mustFailed} MUST case(s) failed.`,
  );
  return `${lines.join('\n')}\n`;
}

function describeExchanges(r: CaseResult): string[] {
  const lines = [`- ${r.id} (${r.level}): ${r.detail}`];
  for (const x of r.exchanges) {
    lines.push(`    > ${x.request.method} ${x.request.url}${x.request.body ? `  body: ${x.request.body}` : ''}`);
    if (x.response) {
      lines.push(
        `    < ${x.response.status}${x.response.location ? ` location: ${x.response.location}` : ''}${x.reading ? `  [${x.reading}]` : ''}`,
      );
      if (x.response.body) lines.push(`      ${x.response.body.slice(0, 240)}`);
    } else lines.push(`    < no answer: ${x.error}`);
  }
  if (r.fetches !== undefined) lines.push(`    document host: ${r.fetches} request(s) on this case's paths`);
  return lines;
}

export function toJson(report: RunReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

const xml = (text: string) =>
  text
    .replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!)
    .replace(
      // biome-ignore lint/suspicious/noControlCharactersInRegex: XML 1.0 forbids these characters; they are dropped.
      /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g,
      '',
    );

/** JUnit XML: one testsuite per family; a failed MUST is a <failure>, a failed SHOULD/policy a <failure> too but typed. */
export function toJunit(report: RunReport): string {
  const out = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const s = report.summary;
  out.push(`<testsuites name="cimd-conformance" tests="${s.total}" failures="${s.fail}" skipped="${s.notRun}">`);
  for (const family of FAMILIES) {
    const rows = report.results.filter((r) => r.family === family);
    if (!rows.length) continue;
    const failures = rows.filter((r) => r.status === 'fail').length;
    const skipped = rows.filter((r) => r.status === 'not-run').length;
    out.push(`  <testsuite name="${family}" tests="${rows.length}" failures="${failures}" skipped="${skipped}">`);
    for (const r of rows) {
      const name = xml(`[${r.level}] ${r.id}: ${r.title}`);
      out.push(
        `    <testcase classname="cimd-conformance.${family}" name="${name}" time="${(r.ms / 1000).toFixed(3)}">`,
      );
      out.push(`      <properties><property name="cite" value="${xml(r.cite)}"/></properties>`);
      if (r.status === 'fail') {
        out.push(
          `      <failure type="${r.level}" message="${xml(r.detail)}">${xml(describeExchanges(r).join('\n'))}</failure>`,
        );
      } else if (r.status === 'not-run') out.push(`      <skipped message="${xml(r.detail)}"/>`);
      out.push('    </testcase>');
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}
