/**
 * Before any fetch, as the server decides it: the client_id URL rules (with the development exception) and the
 * trust policy, both from the server's composition root (plugin/pipeline.ts).
 */

import { ruleFix, URL_RULES, type UrlRuleId } from '../core/catalogue.js';
import { CimdError, Reason } from '../core/errors.js';
import type { PolicyVerdict } from '../rules/trust.js';
import type { Resolved } from './options.js';
import type { CheckItem } from './report.js';

export const URL_RULE_IDS = Object.keys(URL_RULES) as UrlRuleId[];

export function runUrlRules(cid: string, resolved: Resolved): { items: CheckItem[]; error?: CimdError; url?: URL } {
  const verdict = resolved.urlRules(cid);
  if (verdict.ok) {
    return {
      url: verdict.url,
      items: URL_RULE_IDS.map((rule) => ({
        stage: 'url',
        id: `url:${rule}`,
        status: 'pass',
        message: URL_RULES[rule].requires,
      })),
    };
  }
  const failure: CheckItem = {
    stage: 'url',
    id: `url:${verdict.rule}`,
    status: 'fail',
    message: verdict.message,
    code: Reason.RejectedUrl,
    rule: verdict.rule,
    fix: ruleFix(verdict.rule, cid),
  };
  // The rules run in catalogue order and stop at the first failure: the ones before it passed.
  const failedIndex = URL_RULE_IDS.indexOf(verdict.rule as UrlRuleId);
  const items: CheckItem[] = URL_RULE_IDS.map((rule, index) =>
    index === failedIndex
      ? failure
      : {
          stage: 'url',
          id: `url:${rule}`,
          status: failedIndex !== -1 && index < failedIndex ? 'pass' : 'skip',
          message: URL_RULES[rule].requires,
        },
  );
  if (failedIndex === -1) items.unshift(failure);
  return { items, error: new CimdError(Reason.RejectedUrl, verdict.message, { rule: verdict.rule }) };
}

type PolicyOutcome = { items: CheckItem[]; error?: CimdError };

/** A trust-policy verdict as check items: a refusal is `rejected:policy`, a report-mode one `would_deny`. */
function policyItems(verdict: PolicyVerdict): PolicyOutcome {
  if (!verdict.allowed) {
    return {
      items: [
        {
          stage: 'policy',
          id: 'policy:admission',
          status: 'fail',
          message: verdict.reason,
          code: Reason.RejectedPolicy,
          fix: 'the deployment must admit this client (policy.allow, policy.decide) and not deny it (policy.deny)',
        },
      ],
      error: new CimdError(Reason.RejectedPolicy, verdict.reason),
    };
  }
  if (verdict.wouldDeny !== undefined) {
    return {
      items: [
        {
          stage: 'policy',
          id: 'policy:admission',
          status: 'warn',
          message: `served in report mode, but policy.admission 'allowlist' would refuse it: ${verdict.wouldDeny}`,
          code: Reason.WouldDeny,
          fix: 'add the client to policy.allow before switching policy.admission to allowlist',
        },
      ],
    };
  }
  return {
    items: [{ stage: 'policy', id: 'policy:admission', status: 'pass', message: 'the trust policy admits the client' }],
  };
}

/**
 * The trust policy, as the server applies it after the URL rules and before any fetch: a refusal is
 * `rejected:policy`; in `report` mode a would-be refusal is served and reported (`would_deny`).
 */
export async function runPolicy(cid: string, url: URL, resolved: Resolved): Promise<PolicyOutcome> {
  return policyItems(await resolved.pipeline.policy(cid, url));
}

/**
 * The trust policy for `checkDocument`, which is synchronous: the lists are judged; a `policy.decide` hook that
 * answers asynchronously is reported as not checked.
 */
export function runPolicySync(cid: string, url: URL, resolved: Resolved): PolicyOutcome {
  const verdict = resolved.pipeline.policy(cid, url);
  if (verdict instanceof Promise) {
    verdict.catch(() => {});
    return {
      items: [
        {
          stage: 'policy',
          id: 'policy:admission',
          status: 'skip',
          message: 'not checked: policy.decide answers asynchronously (check the URL to run it)',
        },
      ],
    };
  }
  return policyItems(verdict);
}
