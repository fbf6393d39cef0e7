import {
  MAX_JSON_DEPTH,
  parseStrictJson,
  StrictJsonError,
} from '../../packages/oidc-provider-cimd/src/rules/strict-json.js';

const kindOf = (text: string): string | undefined => {
  try {
    parseStrictJson(text);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(StrictJsonError);
    expect(error).toBeInstanceOf(SyntaxError);
    return (error as StrictJsonError).kind;
  }
};

describe('parseStrictJson: valid input agrees with JSON.parse', () => {
  test.each([
    '{}',
    '[]',
    '""',
    '0',
    '-0',
    '12.5e-3',
    '1E+2',
    'true',
    'false',
    'null',
    ' \t\r\n{ "a" : [ 1 , 2 , { "b" : null } ] } \n',
    '{"client_id":"https://app.example.com/doc","redirect_uris":["https://app.example.com/cb"],"n":-1.5}',
    '{"esc":"\\"\\\\\\/\\b\\f\\n\\r\\t"}',
    '{"u":"\\u00e9\\u4e2d\\ud83d\\ude00"}',
    '{"raw":"é中😀"}',
    '{"a":{"a":{"a":1}}}',
    '[{"a":1},{"a":2}]',
    '{"":1,"x":""}',
  ])('%s', (text) => {
    expect(parseStrictJson(text)).toEqual(JSON.parse(text));
  });

  test('a real client document', () => {
    const text = JSON.stringify({
      client_id: 'https://claude.ai/oauth/claude-code-client-metadata',
      client_name: 'Claude Code',
      redirect_uris: ['http://localhost/callback', 'http://127.0.0.1/callback'],
      grant_types: ['authorization_code', 'refresh_token'],
    });
    expect(parseStrictJson(text)).toEqual(JSON.parse(text));
  });

  test('__proto__ becomes an own property, never the prototype', () => {
    const value = parseStrictJson('{"__proto__":{"polluted":true},"a":1}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.hasOwn(value, '__proto__')).toBe(true);
    expect((value as { polluted?: unknown }).polluted).toBeUndefined();
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });
});

describe('parseStrictJson: syntax errors', () => {
  test.each([
    ['empty input', ''],
    ['whitespace only', '  '],
    ['trailing comma in object', '{"a":1,}'],
    ['trailing comma in array', '[1,]'],
    ['single quotes', "{'a':1}"],
    ['unquoted name', '{a:1}'],
    ['missing colon', '{"a" 1}'],
    ['missing value', '{"a":}'],
    ['two values', '{} {}'],
    ['trailing garbage', '{"a":1}x'],
    ['unterminated string', '{"a":"b}'],
    ['unterminated object', '{"a":1'],
    ['unterminated array', '[1,2'],
    ['raw control character in string', '{"a":"b\u0001"}'],
    ['raw newline in string', '{"a":"b\nc"}'],
    ['invalid escape', '{"a":"\\x41"}'],
    ['short unicode escape', '{"a":"\\u12"}'],
    ['non-hex unicode escape', '{"a":"\\u12G4"}'],
    ['leading zero', '01'],
    ['leading plus', '+1'],
    ['bare minus', '-'],
    ['trailing dot', '1.'],
    ['leading dot', '.5'],
    ['exponent without digits', '1e'],
    ['NaN', 'NaN'],
    ['Infinity', 'Infinity'],
    ['comment', '{"a":1 /* c */}'],
    ['capitalised literal', 'True'],
    ['truncated literal', 'nul'],
    ['non-JSON whitespace (NBSP)', '\u00a0{}'],
    ['non-JSON whitespace (vertical tab)', '{\u000b}'],
    ['leading byte order mark', '\ufeff{}'],
    ['lone high surrogate escape', '{"a":"\\ud800"}'],
    ['lone low surrogate escape', '{"a":"\\udc00"}'],
    ['high surrogate escape followed by a non-surrogate escape', '{"a":"\\ud800\\u0041"}'],
    ['reversed surrogate pair', '{"a":"\\ude00\\ud83d"}'],
    ['raw lone surrogate', '{"a":"\ud800"}'],
    ['number overflowing a double', '1e400'],
    ['negative number overflowing a double', '{"a":-1e400}'],
  ])('%s', (_label, text) => {
    expect(kindOf(text)).toBe('syntax');
  });

  test('errors carry the offset of the offending character', () => {
    try {
      parseStrictJson('{"a":1,}');
      throw new Error('did not throw');
    } catch (error) {
      expect(error).toBeInstanceOf(StrictJsonError);
      expect((error as StrictJsonError).offset).toBe(7);
    }
  });

  test('non-string input is a TypeError', () => {
    expect(() => parseStrictJson(Buffer.from('{}') as unknown as string)).toThrow(TypeError);
  });
});

describe('parseStrictJson: duplicate member names', () => {
  test.each([
    ['at the top level', '{"client_id":"a","client_id":"a"}', 'client_id'],
    ['with different values', '{"a":1,"b":2,"a":3}', 'a'],
    ['nested in an object', '{"jwks":{"keys":[],"keys":[]}}', 'keys'],
    ['nested in an array element', '{"jwks":{"keys":[{"kty":"RSA","d":"x","d":"y"}]}}', 'd'],
    ['via a unicode escape', '{"a":1,"\\u0061":2}', 'a'],
    ['via escapes on both sides', '{"\\u0063lient_id":1,"c\\u006cient_id":2}', 'client_id'],
    ['via a solidus escape', '{"a/b":1,"a\\/b":2}', 'a/b'],
    ['empty names', '{"":1,"":2}', ''],
    ['__proto__', '{"__proto__":1,"__proto__":2}', '__proto__'],
  ])('%s', (_label, text, name) => {
    try {
      parseStrictJson(text);
      throw new Error('did not throw');
    } catch (error) {
      expect(error).toBeInstanceOf(StrictJsonError);
      expect((error as StrictJsonError).kind).toBe('duplicate');
      expect((error as StrictJsonError).member).toBe(name);
    }
  });

  test('the same name in sibling objects is not a duplicate', () => {
    expect(parseStrictJson('{"a":{"x":1},"b":{"x":2},"c":[{"x":3},{"x":4}]}')).toEqual({
      a: { x: 1 },
      b: { x: 2 },
      c: [{ x: 3 }, { x: 4 }],
    });
  });

  test('names differing only in case or normalisation form are distinct', () => {
    expect(Object.keys(parseStrictJson('{"a":1,"A":2,"\u00e9":3,"e\u0301":4}') as object)).toHaveLength(4);
  });
});

describe('parseStrictJson: depth limit', () => {
  const nestedArrays = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
  const nestedObjects = (depth: number) => '{"a":'.repeat(depth - 1) + '{}' + '}'.repeat(depth - 1);

  test(`accepts ${MAX_JSON_DEPTH} levels`, () => {
    expect(MAX_JSON_DEPTH).toBe(32);
    expect(() => parseStrictJson(nestedArrays(MAX_JSON_DEPTH))).not.toThrow();
    expect(() => parseStrictJson(nestedObjects(MAX_JSON_DEPTH))).not.toThrow();
  });

  test(`rejects ${MAX_JSON_DEPTH + 1} levels`, () => {
    expect(kindOf(nestedArrays(MAX_JSON_DEPTH + 1))).toBe('depth');
    expect(kindOf(nestedObjects(MAX_JSON_DEPTH + 1))).toBe('depth');
  });

  test('deep nesting cannot exhaust the stack', () => {
    expect(kindOf('['.repeat(1_000_000))).toBe('depth');
  });
});

describe('parseStrictJson: numbers and unicode', () => {
  test('big and precise numbers convert like JSON.parse', () => {
    for (const text of ['12345678901234567890', '1.7976931348623157e308', '5e-324', '1e-400', '-0.0', '0.1']) {
      expect(parseStrictJson(text)).toBe(JSON.parse(text));
    }
  });

  test('unicode escapes, including surrogate pairs, decode to the same string as JSON.parse', () => {
    const text = '"\\u0041\\u00DF\\u6771\\uD834\\uDD1E\\u0000"';
    expect(parseStrictJson(text)).toBe(JSON.parse(text));
    expect(parseStrictJson(text)).toBe('Aß東𝄞\u0000');
  });

  test('raw astral characters pass through', () => {
    expect(parseStrictJson('"𝄞 😀"')).toBe('𝄞 😀');
  });

  test('a 5 KB document parses quickly (linear)', () => {
    const text = JSON.stringify({ keys: Array.from({ length: 200 }, (_, i) => ({ [`k${i}`]: 'x'.repeat(10) })) });
    const started = performance.now();
    for (let i = 0; i < 100; i++) parseStrictJson(text);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
