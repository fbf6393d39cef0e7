import {
  checkAddress,
  createAddressPolicy,
  DEFAULT_DENY_LIST,
} from '../../packages/oidc-provider-cimd/src/rules/address-policy.js';

const strict = createAddressPolicy();
const dev = createAddressPolicy({ allowLoopback: true });

/** Addresses the server must never dial, whatever the deployment (allowLoopback included). */
const NEVER: readonly [string, string][] = [
  ['10.0.0.1', 'RFC 1918 10/8'],
  ['172.16.0.1', 'RFC 1918 172.16/12'],
  ['172.31.255.254', 'RFC 1918 172.16/12 (top)'],
  ['192.168.1.1', 'RFC 1918 192.168/16'],
  ['169.254.169.254', 'link-local / cloud metadata'],
  ['100.64.0.1', 'CGNAT 100.64/10'],
  ['100.127.255.254', 'CGNAT 100.64/10 (top)'],
  ['0.0.0.0', 'unspecified IPv4'],
  ['0.1.2.3', '"this network" 0/8'],
  ['255.255.255.255', 'broadcast'],
  ['224.0.0.1', 'IPv4 multicast'],
  ['239.255.255.250', 'IPv4 multicast (SSDP)'],
  ['192.0.2.10', 'TEST-NET-1'],
  ['198.51.100.7', 'TEST-NET-2'],
  ['203.0.113.9', 'TEST-NET-3'],
  ['192.0.0.1', 'IETF protocol assignments'],
  ['198.18.0.1', 'benchmarking'],
  ['240.0.0.1', 'reserved 240/4'],
  ['::', 'unspecified IPv6'],
  ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
  ['::ffff:7f00:1', 'IPv4-mapped loopback (hex form)'],
  ['::ffff:10.0.0.1', 'IPv4-mapped private'],
  ['::ffff:8.8.8.8', 'IPv4-mapped public (mapped forms are always refused)'],
  ['::7f00:1', 'IPv4-compatible loopback'],
  ['64:ff9b::7f00:1', 'NAT64 of loopback'],
  ['64:ff9b::808:808', 'NAT64 of a public address'],
  ['2002:7f00:1::1', '6to4 of loopback'],
  ['2002:808:808::1', '6to4 of a public address'],
  ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo'],
  ['2001::1', 'Teredo 2001::/32'],
  ['2001:10::1', 'ORCHID, inside 2001::/23'],
  ['fc00::1', 'ULA fc00::/7'],
  ['fd00::2', 'ULA fd00::/8'],
  ['fe80::1', 'IPv6 link-local'],
  ['fe80::1%eth0', 'zone-scoped link-local'],
  ['2606:4700:4700::1111%eth0', 'zone-scoped (even a public address)'],
  ['2001:db8::1', 'IPv6 documentation 2001:db8::/32'],
  ['3fff::1', 'IPv6 documentation 3fff::/20'],
  ['3fff:fff::1', 'IPv6 documentation 3fff::/20 (top)'],
  ['ff02::1', 'IPv6 multicast link-local'],
  ['ff0e::1', 'IPv6 multicast global'],
  ['100::1', 'IPv6 discard 100::/64'],
  ['5f00::1', 'outside 2000::/3'],
  ['168.63.129.16', 'default deny list (Azure wire server)'],
];

const LOOPBACK = ['127.0.0.1', '127.0.0.2', '127.255.255.254', '::1'];

const PUBLIC = ['8.8.8.8', '1.1.1.1', '93.184.216.34', '2606:4700:4700::1111', '2001:4860:4860::8888', '2001:200::1'];

/** Not canonical IP strings: a resolver or socket never reports these, so they are refused. */
const NOT_ADDRESSES = ['', 'localhost', '2130706433', '0x7f.0.0.1', '01.02.03.04', '127.1', '[::1]', ' 8.8.8.8'];

describe('checkAddress: default policy', () => {
  test.each(NEVER)('refuses %s (%s)', (address) => {
    const verdict = checkAddress(address, strict);
    expect(verdict.allowed).toBe(false);
    expect(verdict.allowed === false && verdict.reason.length > 0).toBe(true);
  });

  test.each(LOOPBACK)('refuses loopback %s', (address) => {
    expect(checkAddress(address, strict)).toMatchObject({ allowed: false });
  });

  test.each(PUBLIC)('accepts public unicast %s', (address) => {
    expect(checkAddress(address, strict)).toEqual({ allowed: true });
  });

  test.each(NOT_ADDRESSES)('refuses the non-canonical string %j', (address) => {
    expect(checkAddress(address, strict)).toMatchObject({ allowed: false });
  });

  test('the default deny list is the Azure wire server', () => {
    expect(DEFAULT_DENY_LIST).toContain('168.63.129.16/32');
    expect(checkAddress('168.63.129.17', strict)).toEqual({ allowed: true });
  });
});

describe('checkAddress: development exception (allowLoopback)', () => {
  test.each(LOOPBACK)('accepts loopback %s', (address) => {
    expect(checkAddress(address, dev)).toEqual({ allowed: true });
  });

  test.each(NEVER)('still refuses %s (%s)', (address) => {
    expect(checkAddress(address, dev)).toMatchObject({ allowed: false });
  });

  test.each(PUBLIC)('still accepts %s', (address) => {
    expect(checkAddress(address, dev)).toEqual({ allowed: true });
  });

  test('a deny-list entry beats the loopback exception', () => {
    const policy = createAddressPolicy({ allowLoopback: true, denyList: ['127.0.0.2'] });
    expect(checkAddress('127.0.0.2', policy)).toMatchObject({ allowed: false });
    expect(checkAddress('127.0.0.1', policy)).toEqual({ allowed: true });
  });
});

describe('checkAddress: custom deny list', () => {
  const policy = createAddressPolicy({ denyList: ['8.8.8.0/24', '2606:4700::/32', '1.1.1.1'] });

  test.each(['8.8.8.8', '8.8.8.255', '2606:4700:4700::1111', '1.1.1.1'])('refuses listed %s', (address) => {
    const verdict = checkAddress(address, policy);
    expect(verdict).toMatchObject({ allowed: false });
    expect(verdict.allowed === false && /deny list/.test(verdict.reason)).toBe(true);
  });

  test.each(['8.8.4.4', '1.1.1.2', '2606:4701::1'])('accepts unlisted public %s', (address) => {
    expect(checkAddress(address, policy)).toEqual({ allowed: true });
  });

  test('an IPv4 entry does not match IPv6 addresses and vice versa', () => {
    const v4only = createAddressPolicy({ denyList: ['0.0.0.0/0'] });
    expect(checkAddress('2606:4700:4700::1111', v4only)).toEqual({ allowed: true });
    expect(checkAddress('8.8.8.8', v4only)).toMatchObject({ allowed: false });
  });

  test('a malformed entry is a configuration error', () => {
    expect(() => createAddressPolicy({ denyList: ['not-an-address'] })).toThrow(TypeError);
  });

  test('a custom list adds to the built-in one and never replaces it', () => {
    expect(checkAddress('168.63.129.16', policy)).toMatchObject({ allowed: false });
    expect(checkAddress('1.1.1.1', policy)).toMatchObject({ allowed: false });
    expect(() => createAddressPolicy({ denyList: ['10.0.0.0/33'] })).toThrow(TypeError);
  });
});
