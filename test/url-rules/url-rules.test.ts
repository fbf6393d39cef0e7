import {
  checkClientIdUrl,
  createUrlRules,
  looksLikeClientIdUrl,
  type UrlRuleOptions,
} from '../../packages/oidc-provider-cimd/src/rules/client-id-url.js';

const ISSUER = 'https://as.acme.com';
const base: UrlRuleOptions = { issuer: ISSUER };
const check = createUrlRules(base);

/** A CID of exactly `n` characters under https://a.com/ */
const ofLength = (n: number): string => {
  const prefix = 'https://a.com/';
  return prefix + 'a'.repeat(n - prefix.length);
};

// [cid, expected rule or null for accepted]
const table: ReadonlyArray<readonly [string, string | null]> = [
  // Real client ids.
  ['https://claude.ai/oauth/mcp-oauth-client-metadata', null],
  ['https://claude.ai/oauth/claude-code-client-metadata', null],
  ['https://vscode.dev/oauth/client-metadata.json', null],
  ['https://zed.dev/oauth/client-metadata.json', null],
  // Other accepted shapes.
  ['https://a.com/x', null],
  ['https://a.com/x/', null],
  ['https://client.example.com/x', null], // `example` is special only as the last label
  ['https://a.com:8443/x', null],
  ['https://a.com/x/...', null], // three dots is an ordinary segment
  ['https://a.com/x.json', null],
  ['https://a.com/.well-known/oauth-client', null],
  ['https://a.com/x%2Fy', null],
  ['https://a.com/@user/client', null], // '@' in the path is not userinfo
  ['https://xn--bcher-kva.de/x', null],
  ['https://sub-domain.a.co.uk/a/b/c', null],
  ['https://as.acme.com:8443/x', null], // issuer's host, other port
  ['https://other.acme.com/x', null],
  // Type, length, characters.
  ['', 'empty'],
  [ofLength(2048), null],
  [ofLength(2049), 'length'],
  ['https://a.com/x\\y', 'characters'],
  ['https://a.com/x\ty', 'characters'],
  ['https://a.com/x y', 'characters'],
  ['https://a.com/x\ny', 'characters'],
  ['https://a.com/x\x7f', 'characters'],
  ['https://a.com/x\x00', 'characters'],
  [' https://a.com/x', 'characters'],
  ['https://a.com/caf\u00e9', 'characters'],
  ['https://b\u00fccher.de/x', 'characters'],
  // Scheme.
  ['HTTPS://a.com/x', 'scheme'],
  ['Https://a.com/x', 'scheme'],
  ['http://a.com/x', 'scheme'],
  ['https:/x', 'scheme'],
  ['https:a.com/x', 'scheme'],
  ['ftp://a.com/x', 'scheme'],
  ['a.com/x', 'scheme'],
  // Canonical form.
  ['https://A.com/x', 'canonical'],
  ['https://a.COM/x', 'canonical'],
  ['https://a.com:443/x', 'canonical'],
  ['https://a.com:08443/x', 'canonical'],
  ['https://a.com', 'canonical'],
  ['https://ex%61mple.com/x', 'canonical'],
  ['https://a%2ecom/x', 'canonical'],
  ['https:///a.com/x', 'canonical'],
  ['https://a.com/x{y', 'canonical'],
  ['https://a.com/x"y', 'canonical'],
  ['https://', 'parse'],
  ['https://[::1/x', 'parse'],
  ['https://a.com:99999/x', 'parse'],
  // Userinfo, fragment.
  ['https://@a.com/x', 'userinfo'],
  ['https://u@a.com/x', 'userinfo'],
  ['https://u:p@a.com/x', 'userinfo'],
  ['https://:@a.com/x', 'userinfo'],
  ['https://a.com/x#', 'fragment'],
  ['https://a.com/x#f', 'fragment'],
  ['https://a.com#f', 'fragment'],
  ['https://a.com/x?y#', 'fragment'],
  // Dot segments in any spelling.
  ['https://a.com/./x', 'dot_segment'],
  ['https://a.com/../x', 'dot_segment'],
  ['https://a.com/x/../y', 'dot_segment'],
  ['https://a.com/%2e/x', 'dot_segment'],
  ['https://a.com/%2E/x', 'dot_segment'],
  ['https://a.com/%2E%2e/x', 'dot_segment'],
  ['https://a.com/.%2e/x', 'dot_segment'],
  ['https://a.com/%2e./x', 'dot_segment'],
  ['https://a.com/%2e%2e/x', 'dot_segment'],
  ['https://a.com/x/.', 'dot_segment'],
  ['https://a.com/x/..', 'dot_segment'],
  ['https://a.com/x/%2e', 'dot_segment'],
  ['https://a.com/x/.?q', 'dot_segment'],
  // Root path and query.
  ['https://a.com/', 'root_path'],
  ['https://a.com/?', 'root_path'],
  ['https://a.com/x?', 'query'],
  ['https://a.com/x?y=1', 'query'],
  ['https://a.com?y=1', 'query'],
  // Hosts.
  ['https://127.0.0.1/x', 'ip_literal'],
  ['https://8.8.8.8/x', 'ip_literal'],
  ['https://2130706433/x', 'ip_literal'],
  ['https://0x7f.1/x', 'ip_literal'],
  ['https://0177.0.0.1/x', 'ip_literal'],
  ['https://[::1]/x', 'ip_literal'],
  ['https://[2606:4700::1111]/x', 'ip_literal'],
  ['https://[::ffff:127.0.0.1]/x', 'ip_literal'],
  ['https://localhost/x', 'special_use_host'],
  ['https://foo.localhost/x', 'special_use_host'],
  ['https://printer.local/x', 'special_use_host'],
  ['https://svc.internal/x', 'special_use_host'],
  ['https://a.test/x', 'special_use_host'],
  ['https://test/x', 'special_use_host'],
  ['https://a.invalid/x', 'special_use_host'],
  ['https://www.example/x', 'special_use_host'],
  ['https://example/x', 'special_use_host'],
  ['https://nas.home.arpa/x', 'special_use_host'],
  ['https://home.arpa/x', 'special_use_host'],
  ['https://abc.onion/x', 'special_use_host'],
  ['https://intranet/x', 'single_label'],
  ['https://com/x', 'single_label'],
  ['https://a.com./x', 'trailing_dot'],
  ['https://localhost./x', 'trailing_dot'],
  ['https://a..com/x', 'host_syntax'],
  ['https://.a.com/x', 'host_syntax'],
  ['https://a_b.com/x', 'host_syntax'],
  ['https://a*b.com/x', 'host_syntax'],
  [`https://${'a'.repeat(64)}.com/x`, 'host_syntax'],
  [`https://${'a'.repeat(63)}.com/x`, null],
  // The issuer's own origin.
  ['https://as.acme.com/x', 'own_origin'],
  ['https://as.acme.com/.well-known/client', 'own_origin'],
  // Ports.
  ['https://a.com:0/x', 'port'],
  ['https://a.com:65535/x', null],
];

describe('checkClientIdUrl: the §2 table (issuer https://as.acme.com, default options)', () => {
  test('the table is large enough', () => {
    expect(table.length).toBeGreaterThanOrEqual(50);
  });

  test.each(table)('%j → %s', (cid, rule) => {
    const verdict = check(cid);
    if (rule === null) {
      expect(verdict).toEqual({ ok: true, url: new URL(cid), host: new URL(cid).host });
    } else {
      expect(verdict.ok).toBe(false);
      if (!verdict.ok) {
        expect(verdict.rule).toBe(rule);
        expect(typeof verdict.message).toBe('string');
        expect(verdict.message.length).toBeGreaterThan(0);
      }
    }
  });

  test('checkClientIdUrl agrees with createUrlRules', () => {
    for (const [cid] of table) {
      const a = checkClientIdUrl(cid, base);
      const b = check(cid);
      expect(a.ok).toBe(b.ok);
      if (!a.ok && !b.ok) expect(a.rule).toBe(b.rule);
    }
  });

  test('every accepted CID is canonical: new URL(cid).href === cid', () => {
    const accepted = table.filter(([, rule]) => rule === null).map(([cid]) => cid);
    expect(accepted.length).toBeGreaterThan(10);
    for (const cid of accepted) {
      const verdict = check(cid);
      expect(verdict.ok).toBe(true);
      expect(new URL(cid).href).toBe(cid);
      if (verdict.ok) expect(verdict.url.href).toBe(cid);
    }
  });

  test('property: any CID accepted under any option set is canonical', () => {
    const optionSets: UrlRuleOptions[] = [
      base,
      { ...base, allowRootPath: true, allowQuery: true },
      { issuer: 'http://localhost:3000', allowLoopback: true, allowRootPath: true, allowQuery: true },
    ];
    const extra = [
      'https://a.com/?',
      'https://a.com/?a=b',
      'https://a.com/x?a=b&c=d',
      'https://localhost:8443/x',
      'https://127.0.0.1:8443/x',
      'https://[::1]:8443/x',
      'https://[0:0:0:0:0:0:0:1]:8443/x',
      'https://127.1:8443/x',
      'https://LOCALHOST:8443/x',
      "https://a.com/x?q='",
      'https://a.com/x?q=%',
    ];
    let accepted = 0;
    for (const options of optionSets) {
      const rules = createUrlRules(options);
      for (const cid of [...table.map(([c]) => c), ...extra]) {
        const verdict = rules(cid);
        if (verdict.ok) {
          accepted++;
          expect(new URL(cid).href).toBe(cid);
          expect(verdict.url.href).toBe(cid);
        }
      }
    }
    expect(accepted).toBeGreaterThan(40);
  });

  test('non-strings are rejected with rule "type"', () => {
    for (const value of [undefined, null, 42, {}, [], new URL('https://a.com/x'), Symbol('x'), true]) {
      const verdict = check(value);
      expect(verdict.ok).toBe(false);
      if (!verdict.ok) expect(verdict.rule).toBe('type');
    }
  });
});

const ruleOf = (cid: unknown, options: UrlRuleOptions): string | null => {
  const verdict = checkClientIdUrl(cid, options);
  return verdict.ok ? null : verdict.rule;
};

describe('options', () => {
  test('allowRootPath accepts exactly "/" and nothing else changes', () => {
    const options = { ...base, allowRootPath: true };
    expect(ruleOf('https://a.com/', options)).toBeNull();
    expect(ruleOf('https://a.com', options)).toBe('canonical');
    expect(ruleOf('https://a.com/?', options)).toBe('query');
    expect(ruleOf('https://a.com/.', options)).toBe('dot_segment');
    expect(ruleOf('https://localhost/', options)).toBe('special_use_host');
  });

  test('allowQuery accepts a query (even empty) but not a root path or a fragment', () => {
    const options = { ...base, allowQuery: true };
    expect(ruleOf('https://a.com/x?', options)).toBeNull();
    expect(ruleOf('https://a.com/x?y=1', options)).toBeNull();
    expect(ruleOf('https://a.com/x?y=1&z=./..', options)).toBeNull(); // dots in the query are not path segments
    expect(ruleOf('https://a.com/?', options)).toBe('root_path');
    expect(ruleOf('https://a.com/x?y#', options)).toBe('fragment');
    expect(ruleOf('https://a.com?y=1', options)).toBe('canonical'); // missing path
    expect(ruleOf('https://a.com/x?a b', options)).toBe('characters');
    expect(ruleOf('https://a.com/x?a"b', options)).toBe('canonical');
  });

  test('allowRootPath + allowQuery accept https://a.com/?', () => {
    expect(ruleOf('https://a.com/?', { ...base, allowRootPath: true, allowQuery: true })).toBeNull();
  });

  test('allowedPorts restricts ports; 443 means "no port written"', () => {
    const only443 = { ...base, allowedPorts: [443] };
    expect(ruleOf('https://a.com/x', only443)).toBeNull();
    expect(ruleOf('https://a.com:8443/x', only443)).toBe('port');
    expect(ruleOf('https://a.com:443/x', only443)).toBe('canonical');
    const some = { ...base, allowedPorts: [443, 8443] };
    expect(ruleOf('https://a.com:8443/x', some)).toBeNull();
    expect(ruleOf('https://a.com:9443/x', some)).toBe('port');
    const noDefault = { ...base, allowedPorts: [8443] };
    expect(ruleOf('https://a.com/x', noDefault)).toBe('port');
    // Without allowedPorts any port is fine.
    expect(ruleOf('https://a.com:8443/x', base)).toBeNull();
    expect(ruleOf('https://a.com:1/x', base)).toBeNull();
  });

  test('maxLength', () => {
    expect(ruleOf(ofLength(100), { ...base, maxLength: 100 })).toBeNull();
    expect(ruleOf(ofLength(101), { ...base, maxLength: 100 })).toBe('length');
    expect(ruleOf(ofLength(4096), { ...base, maxLength: 4096 })).toBeNull();
    // The length check comes before everything else, so huge junk is cheap to reject.
    expect(ruleOf(' '.repeat(100_000), base)).toBe('length');
  });

  test('invalid options throw at compile time', () => {
    expect(() => createUrlRules({ issuer: 'not a url' })).toThrow(TypeError);
    expect(() => createUrlRules({ ...base, allowedPorts: [0] })).toThrow(TypeError);
    expect(() => createUrlRules({ ...base, allowedPorts: [70000] })).toThrow(TypeError);
    expect(() => createUrlRules({ ...base, allowedPorts: [1.5] })).toThrow(TypeError);
    expect(() => createUrlRules({ ...base, maxLength: 0 })).toThrow(TypeError);
    expect(() => createUrlRules({ ...base, maxLength: Number.NaN })).toThrow(TypeError);
  });
});

describe("the issuer's own origin: same host and same effective port, regardless of scheme", () => {
  test('https issuer without a port', () => {
    const options = { issuer: 'https://as.acme.com/tenant' };
    expect(ruleOf('https://as.acme.com/x', options)).toBe('own_origin');
    expect(ruleOf('https://as.acme.com/tenant/client', options)).toBe('own_origin');
    expect(ruleOf('https://as.acme.com:8443/x', options)).toBeNull();
    expect(ruleOf('https://acme.com/x', options)).toBeNull();
    expect(ruleOf('https://x.as.acme.com/x', options)).toBeNull();
  });

  test('https issuer with a port', () => {
    const options = { issuer: 'https://as.acme.com:8443' };
    expect(ruleOf('https://as.acme.com:8443/x', options)).toBe('own_origin');
    expect(ruleOf('https://as.acme.com/x', options)).toBeNull();
  });

  test('http issuer: port 80 is its port', () => {
    const options = { issuer: 'http://as.acme.com' };
    expect(ruleOf('https://as.acme.com:80/x', options)).toBe('own_origin');
    expect(ruleOf('https://as.acme.com/x', options)).toBeNull();
  });

  test('an issuer host written with a trailing dot is the same host', () => {
    expect(ruleOf('https://as.acme.com/x', { issuer: 'https://as.acme.com./' })).toBe('own_origin');
  });

  test('issuer host compared after the parser lower-cases it', () => {
    expect(ruleOf('https://as.acme.com/x', { issuer: 'https://AS.Acme.COM' })).toBe('own_origin');
  });
});

describe('development exception (allowLoopback, loopback issuer http://localhost:3000)', () => {
  const dev: UrlRuleOptions = { issuer: 'http://localhost:3000', allowLoopback: true };

  test.each([
    ['https://localhost:8443/x', null],
    ['https://localhost/x', null], // 443 differs from the issuer's 3000
    ['https://127.0.0.1:8443/x', null],
    ['https://127.0.0.2:8443/x', null],
    ['https://127.255.255.254/x', null],
    ['https://[::1]:8443/x', null],
    ['https://a.com/x', null], // public CIDs still work
    // Own origin: same port, regardless of scheme, and any loopback name counts as the issuer's host.
    ['https://localhost:3000/x', 'own_origin'],
    ['https://127.0.0.1:3000/x', 'own_origin'],
    ['https://[::1]:3000/x', 'own_origin'],
    // Nothing else is relaxed.
    ['https://foo.localhost/x', 'special_use_host'],
    ['https://foo.localhost:8443/x', 'special_use_host'],
    ['https://10.0.0.1/x', 'ip_literal'],
    ['https://192.168.1.1:8443/x', 'ip_literal'],
    ['https://[::ffff:127.0.0.1]:8443/x', 'ip_literal'],
    ['https://example.test/x', 'special_use_host'],
    ['https://intranet/x', 'single_label'],
    ['https://localhost./x', 'trailing_dot'],
    ['http://localhost:8443/x', 'scheme'],
    ['https://LOCALHOST:8443/x', 'canonical'],
    ['https://2130706433:8443/x', 'canonical'],
    ['https://127.1:8443/x', 'canonical'],
    ['https://[0:0:0:0:0:0:0:1]:8443/x', 'canonical'],
    ['https://localhost:8443/', 'root_path'],
    ['https://localhost:8443/x?y', 'query'],
    ['https://u@localhost:8443/x', 'userinfo'],
  ])('%s → %s', (cid, rule) => {
    expect(ruleOf(cid, dev)).toBe(rule);
  });

  test('issuer on 127.0.0.1: localhost on the same port is its own origin', () => {
    const options = { issuer: 'http://127.0.0.1:3000', allowLoopback: true };
    expect(ruleOf('https://localhost:3000/x', options)).toBe('own_origin');
    expect(ruleOf('https://localhost:3001/x', options)).toBeNull();
  });

  test('without allowLoopback the same CIDs are rejected', () => {
    const options = { issuer: 'http://localhost:3000' };
    expect(ruleOf('https://localhost:8443/x', options)).toBe('special_use_host');
    expect(ruleOf('https://127.0.0.1:8443/x', options)).toBe('ip_literal');
    expect(ruleOf('https://[::1]:8443/x', options)).toBe('ip_literal');
  });
});

describe('looksLikeClientIdUrl', () => {
  test.each([
    ['https://a.com/x', true],
    ['https://', true],
    ['HTTPS://a.com/x', false],
    ['http://a.com/x', false],
    ['my-client', false],
    ['', false],
    [undefined, false],
    [null, false],
    [42, false],
  ])('%j → %s', (id, expected) => {
    expect(looksLikeClientIdUrl(id)).toBe(expected);
  });
});

describe('speed', () => {
  test('compiled rules check 50k CIDs quickly', () => {
    const cids = table.map(([cid]) => cid);
    const start = process.hrtime.bigint();
    for (let i = 0; i < 50_000; i++) check(cids[i % cids.length]);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    // Generous bound (~20 µs per check) so slow CI machines pass; typical is well under 2 µs.
    expect(ms).toBeLessThan(1000);
  });
});
