/**
 * The SSRF address policy: which IP addresses the server may dial on a client's behalf. This file is the
 * only place that decides it; the fetcher asks it at connect time for every address it is about to use.
 */
import ipaddr from 'ipaddr.js';

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

export interface AddressPolicyOptions {
  /** Development exception (SPEC.development): also allow 127.0.0.0/8 and ::1. */
  allowLoopback?: boolean;
  /** CIDRs or addresses never to dial, in addition to {@link DEFAULT_DENY_LIST} (which always applies). */
  denyList?: readonly string[];
}

export interface AddressPolicy {
  readonly allowLoopback: boolean;
  readonly deny: readonly Cidr[];
}

export type AddressVerdict = { allowed: true } | { allowed: false; reason: string };

/** Azure's wire server answers unauthenticated metadata requests from any VM on a public address. */
export const DEFAULT_DENY_LIST: readonly string[] = ['168.63.129.16/32'];

// Public unicast IPv6 lives in 2000::/3; these parts of it still are not public hosts.
const IPV6_NON_PUBLIC: readonly Cidr[] = [
  '2001::/23', // IETF protocol assignments, including Teredo (2001::/32)
  '2001:db8::/32', // documentation
  '2002::/16', // 6to4: tunnels to an arbitrary IPv4 address
  '3fff::/20', // documentation (RFC 9637)
].map((c) => ipaddr.parseCIDR(c));
const IPV6_GLOBAL_UNICAST = ipaddr.parseCIDR('2000::/3');

function parseCidr(entry: string): Cidr {
  if (entry.includes('/')) return ipaddr.parseCIDR(entry);
  const addr = ipaddr.parse(entry);
  return [addr, addr.kind() === 'ipv4' ? 32 : 128];
}

export function createAddressPolicy(options: AddressPolicyOptions = {}): AddressPolicy {
  // Additive on purpose: a deployment's own list must never silently drop the built-in entries.
  const list = [...DEFAULT_DENY_LIST, ...(options.denyList ?? [])];
  const deny = list.map((entry) => {
    try {
      return parseCidr(entry);
    } catch {
      throw new TypeError(`oidc-provider-cimd: denyList entry ${JSON.stringify(entry)} is not an IP address or CIDR`);
    }
  });
  return Object.freeze({ allowLoopback: options.allowLoopback === true, deny: Object.freeze(deny) });
}

const refuse = (reason: string): AddressVerdict => ({ allowed: false, reason });
const ALLOWED: AddressVerdict = Object.freeze({ allowed: true });

/** Parses only the canonical forms a resolver or a socket reports; anything odd is not an address. */
function parseStrict(address: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(address)) return ipaddr.IPv4.parse(address);
  if (!address.includes(':') || !ipaddr.IPv6.isValid(address)) return undefined;
  return ipaddr.IPv6.parse(address);
}

/**
 * Decides whether `address` (an IP string as a resolver or `socket.remoteAddress` gives it) may be dialled.
 * Pure: no I/O, no DNS.
 */
export function checkAddress(address: string, policy: AddressPolicy): AddressVerdict {
  if (address.includes('%')) return refuse(`zone-scoped address ${address}`);
  const addr = parseStrict(address);
  if (!addr) return refuse(`not an IP address: ${JSON.stringify(address)}`);

  for (const cidr of policy.deny) {
    if (addr.kind() === cidr[0].kind() && addr.match(cidr)) return refuse(`address ${address} is on the deny list`);
  }

  const range = addr.range();
  if (policy.allowLoopback && range === 'loopback') return ALLOWED;

  if (addr.kind() === 'ipv4') {
    return range === 'unicast' ? ALLOWED : refuse(`address ${address} is ${range}, not public unicast`);
  }

  const v6 = addr as ipaddr.IPv6;
  if (range === 'ipv4Mapped') return refuse(`IPv4-mapped address ${address}`);
  if (range !== 'unicast' || !v6.match(IPV6_GLOBAL_UNICAST)) {
    return refuse(`address ${address} is ${range === 'unicast' ? 'outside 2000::/3' : range}, not public unicast`);
  }
  for (const cidr of IPV6_NON_PUBLIC) {
    if (v6.match(cidr)) return refuse(`address ${address} is in ${cidr[0].toString()}/${cidr[1]}, not public unicast`);
  }
  return ALLOWED;
}

/** True for 127.0.0.0/8 and ::1 (used by the development exception's issuer check). */
export function isLoopbackAddress(address: string): boolean {
  const addr = parseStrict(address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address);
  return addr?.range() === 'loopback';
}

/** True when `host` is written as an IP literal (IPv6 with or without brackets). */
export function isIpLiteral(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return ipaddr.isValid(bare);
}
