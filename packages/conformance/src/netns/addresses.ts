/**
 * The namespace's address plan. Every address lives on the namespace's own `lo`: nothing here can reach another
 * network, so "public" addresses are public only to the server's address policy.
 */

/** The kit's domain inside the namespace (served by the kit's DNS server only). */
export const KIT_DOMAIN = 'cimd-kit.net';

/** Public-looking addresses where the kit's document host listens (port 443). */
export const DOC_ADDRESSES = {
  primary: '93.184.216.10',
  secondary: '93.184.216.20',
  /** First answer of the rebinding case. */
  rebindPublic: '45.77.10.10',
  /** Public half of the mixed-answers case. */
  mixedPublic: '45.77.10.11',
} as const;

/** Addresses a server must never dial for a client document; a victim listener counts connections on each. */
export const VICTIM_ADDRESSES = [
  '127.0.0.1',
  '127.0.0.2',
  '::1',
  '10.77.0.10',
  '10.77.0.11',
  '10.77.0.12',
  '10.77.0.13',
  '10.77.0.14',
  '172.20.0.10',
  '192.168.77.10',
  '100.77.0.10',
  '169.254.77.10',
  '169.254.169.254',
  'fd77::10',
] as const;

/** The shell commands that put every address on `lo` (run as root in the new namespace). */
export function addressSetup(): string {
  const v4 = [
    ...Object.values(DOC_ADDRESSES),
    ...VICTIM_ADDRESSES.filter((a) => !a.includes(':') && !a.startsWith('127.')),
  ];
  const v6 = VICTIM_ADDRESSES.filter((a) => a.includes(':') && a !== '::1');
  return [
    'ip link set lo up',
    ...v4.map((a) => `ip addr add ${a}/32 dev lo`),
    ...v6.map((a) => `ip -6 addr add ${a}/128 dev lo`),
  ].join(' && ');
}
