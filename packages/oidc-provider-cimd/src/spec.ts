/**
 * The sections of the Client ID Metadata Document draft this package implements, by name, in ONE place. Code
 * comments cite them as `SPEC.<name>` (for example `SPEC.ssrf`), never by a bare number: the draft renumbered its
 * sections between revisions (-03 added Client Authentication as §6 and moved the security considerations from
 * §8 to §9), and numbers copied from different revisions had started to disagree.
 *
 * A section number is given where the -03 text was checked (Client Authentication §6; the security
 * considerations §9: SSRF §9.6, response size §9.7, logos §9.8, domain trust §9.9); the other sections are
 * cited by their -03 title alone. Depends on nothing: every folder may import it.
 */
export const CIMD_DRAFT = 'draft-ietf-oauth-client-id-metadata-document-03';

const titled = (title: string) => `${CIMD_DRAFT}, "${title}"` as const;
const numbered = (section: string, title: string) => `${CIMD_DRAFT} §${section} ("${title}")` as const;

export const SPEC = Object.freeze({
  /** Which strings may be a client id: https, a path, no fragment, no dot segments, compared without normalisation. */
  clientIdUrl: titled('Client Identifier URL'),
  /** The document's members: client_id equal to the URL, no shared secrets, RFC 7591 metadata. */
  metadataDocument: titled('Client ID Metadata Document'),
  /** Fetching the document: GET, 200 only, redirects never followed. */
  discovery: titled('Client Information Discovery'),
  /** A document that cannot be fetched or is invalid: the request fails. */
  discoveryErrors: titled('Metadata Discovery Errors'),
  /** Caching the document while respecting HTTP caching headers. */
  caching: titled('Metadata Caching'),
  /** Loopback client ids and addresses for development (the development exception). */
  development: titled('Client Metadata Documents for Development Purposes'),
  /** Client Authentication: the auth methods of a CIMD client, and the explicit `typ` of its JWTs. */
  clientAuthentication: numbered('6', 'Client Authentication'),
  /** Documents change over time: redirect URIs, keys and the auth method are security relevant. */
  changedMetadata: titled('Changes in Client Metadata'),
  /** Server Side Request Forgery: what the server may dial, and how much fetching a stranger can cause. */
  ssrf: numbered('9.6', 'Server Side Request Forgery (SSRF) Attacks'),
  /** Maximum Response Size for Client Metadata Documents. */
  responseSize: numbered('9.7', 'Maximum Response Size for Client Metadata Documents'),
  /** Displaying Logos to End-Users. */
  logos: numbered('9.8', 'Displaying Logos to End-Users'),
  /** Client ID Domain Trust: trust policy, consent, new clients. */
  domainTrust: numbered('9.9', 'Client ID Domain Trust'),
  /** Pre-registered and CIMD clients side by side: a registered client's id never looks like a CIMD URL. */
  mixedClients: titled('Supporting Both Pre-Registered and Unregistered Clients'),
  /** Pre-registering (pinning) a client id metadata document URL. */
  preRegistration: titled('Pre-Registering Client ID Metadata Document URLs'),
});

export type SpecSection = keyof typeof SPEC;
