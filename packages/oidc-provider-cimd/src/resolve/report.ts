/**
 * The one place that turns a result into its event (docs/events.md): lookups, joined lookups,
 * refreshes and pins all report through here, so a failure event always carries the same members (code,
 * detail, `rule`, the joined marker, whether the shared tier was skipped, a commit that did not apply).
 */
import type { Emit, EventExtra } from '../observe/events.js';
import type { Result } from './load.js';

export function reportResult(emit: Emit, cid: string, started: number, result: Result, joined: boolean): void {
  const extra: EventExtra = joined ? { joined: true } : {};
  const facts = result.ok ? result.answer : result;
  if (facts.sharedSkipped) extra.sharedSkipped = true;
  if (facts.commit) extra.commit = facts.commit;
  if (result.ok) {
    const { reason, tier, detail } = result.answer;
    if (detail !== undefined) extra.detail = detail;
    emit(reason, cid, started, tier, Object.keys(extra).length > 0 ? extra : undefined);
    return;
  }
  const { error, tier } = result;
  extra.detail = error.message;
  if (error.rule) extra.rule = error.rule;
  emit(error.code, cid, started, tier, extra);
}
