/**
 * Consent is bound to what the user saw (SPEC.domainTrust, docs/consent.md):
 * the names under which the document a consent page showed travels with the interaction, from the page (or the
 * view model) to the resume, where the approval is recorded only when that document is still the current one.
 */
import { isSecurityParts, type SecurityParts } from './fingerprint.js';

/**
 * The member of the consent result (`interactionFinished(req, res, { consent: { grantId, cimdFingerprint } })`)
 * and the hidden field of the Allow form of `renderConsentPage` that carry `ConsentViewModel.documentFingerprint`:
 * the document the page showed. When present it is what the user approved; when absent, the plugin uses the one
 * it kept with the interaction when the view model was built.
 */
export const FINGERPRINT_FIELD = 'cimdFingerprint';

/**
 * Where the plugin keeps, in the interaction's `prompt.details`, the document a consent prompt is about: set when
 * the prompt is decided, and replaced by the document shown when the view model is built.
 */
export const SHOWN_DOCUMENT_DETAIL = 'cimdDocument';

export interface ShownDocument {
  fingerprint: string;
  /** Absent when only the fingerprint came back (from the page). */
  parts?: SecurityParts | undefined;
}

export function readShown(value: unknown): ShownDocument | undefined {
  const shown = value as Partial<ShownDocument> | null | undefined;
  if (shown === null || typeof shown !== 'object' || typeof shown.fingerprint !== 'string') return undefined;
  return { fingerprint: shown.fingerprint, parts: isSecurityParts(shown.parts) ? shown.parts : undefined };
}
