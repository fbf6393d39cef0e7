/**
 * Network and TLS failures of the command line's own requests (the server metadata of `--server-metadata` and
 * `cimd advise`), in words that say what to do. Node's raw messages name the OpenSSL code and, for an untrusted
 * certificate, suggest `--use-system-ca`, a Node flag: the fix here is the command's own `--ca`.
 */

const TLS_UNTRUSTED = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
]);
const TLS_EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

/** The error's code, looking through `cause` (undici and fetch wrap the socket's error). */
function codeOf(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && depth < 5; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** One sentence: what went wrong reaching `url`, and what to do about it. */
export function explainNetworkError(error: unknown, url: URL): string {
  const host = url.host;
  const code = codeOf(error);
  if (code && TLS_UNTRUSTED.has(code)) {
    return `the certificate of ${host} is not trusted (${code}): if it is signed by a private CA or self-signed, pass that certificate with --ca FILE (PEM)`;
  }
  if (code && TLS_EXPIRED.has(code)) {
    return `the certificate of ${host} is outside its validity period (${code}): renew it, or check this machine's clock`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `the certificate of ${host} is not valid for that name (${code}): use the host name the certificate was issued for`;
  }
  if (code === 'ECONNREFUSED')
    return `nothing accepts connections at ${host} (ECONNREFUSED): is the server running, and is the port right?`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return `${url.hostname} does not resolve (${code}): check the spelling of the URL and this machine's DNS`;
  }
  if (code === 'ECONNRESET' || code === 'EPROTO' || code === 'ERR_SSL_WRONG_VERSION_NUMBER') {
    return `the connection to ${host} failed (${code}): does it speak ${url.protocol === 'https:' ? 'https (not plain http)' : 'plain http (not https)'} on that port?`;
  }
  if (code === 'ETIMEDOUT' || code === 'TIMEOUT' || /timed out/i.test(String((error as Error)?.message))) {
    return `${host} did not answer in time: is it reachable from here (firewall, proxy, VPN)?`;
  }
  const message = typeof (error as Error)?.message === 'string' ? (error as Error).message : String(error);
  return `${host}: ${message.replace(/\s*\(?use --use-system-ca[^)]*\)?/i, '')}`;
}
