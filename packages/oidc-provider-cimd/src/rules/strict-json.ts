/**
 * A small, strict RFC 8259 JSON parser. It exists because `JSON.parse` silently keeps the last of two members
 * with the same name, and a client metadata document with a duplicate member must be rejected (SPEC.metadataDocument, RFC 7591 §2): two
 * parsers reading one document differently is how a reviewer and a server come to disagree about a client.
 *
 * Choices where RFC 8259 leaves room:
 *
 * - A duplicate member name in any object, at any depth, is an error. Names are compared after unescaping,
 *   so `"a"` and `"\u0061"` are duplicates.
 * - A leading byte order mark is an error (RFC 8259 §8.1: senders MUST NOT add one, parsers MAY ignore it; we
 *   do not, exactly like `JSON.parse`).
 * - Lone surrogates, escaped (`"\ud800"`) or raw, are an error (RFC 7493 I-JSON §2.1): such a string is not
 *   Unicode text and would silently turn into U+FFFD when re-encoded for a log line or a consent page.
 * - A number whose magnitude overflows an IEEE 754 double (`1e400`) is an error; any other number is accepted
 *   and converted like `JSON.parse` does (large integers lose precision).
 * - Nesting deeper than {@link MAX_JSON_DEPTH} arrays/objects is an error.
 *
 * The parser is a single left-to-right pass (linear in the input); recursion is bounded by the depth limit.
 */

/** Maximum nesting of arrays and objects. A client metadata document needs 3 (`jwks.keys[i]`). */
export const MAX_JSON_DEPTH = 32;

export type StrictJsonErrorKind = 'syntax' | 'duplicate' | 'depth';

export class StrictJsonError extends SyntaxError {
  override readonly name = 'StrictJsonError';
  /** `duplicate`: a member name occurs twice in one object; `depth`: too deeply nested; else `syntax`. */
  readonly kind: StrictJsonErrorKind;
  /** Offset (in UTF-16 code units) of the offending character. */
  readonly offset: number;
  /** For `duplicate`: the (unescaped) member name that occurs twice. */
  readonly member: string | undefined;

  constructor(kind: StrictJsonErrorKind, message: string, offset: number, member?: string) {
    super(`${message} at offset ${offset}`);
    this.kind = kind;
    this.offset = offset;
    this.member = member;
  }
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff;
const isLowSurrogate = (code: number): boolean => code >= 0xdc00 && code <= 0xdfff;

class Parser {
  private pos = 0;

  constructor(private readonly text: string) {}

  parse(): unknown {
    this.skipWhitespace();
    const value = this.parseValue(0);
    this.skipWhitespace();
    if (this.pos !== this.text.length) this.fail('unexpected data after the JSON value');
    return value;
  }

  private fail(message: string, offset = this.pos): never {
    throw new StrictJsonError('syntax', message, offset);
  }

  private skipWhitespace(): void {
    const { text } = this;
    while (this.pos < text.length) {
      const c = text.charCodeAt(this.pos);
      // RFC 8259 §2: only space, horizontal tab, line feed and carriage return.
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.pos++;
      else break;
    }
  }

  private parseValue(depth: number): unknown {
    if (this.pos >= this.text.length) this.fail('unexpected end of input');
    const c = this.text[this.pos];
    switch (c) {
      case '{':
        return this.parseObject(depth + 1);
      case '[':
        return this.parseArray(depth + 1);
      case '"':
        return this.parseString();
      case 't':
        return this.parseLiteral('true', true);
      case 'f':
        return this.parseLiteral('false', false);
      case 'n':
        return this.parseLiteral('null', null);
      default:
        if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.parseNumber();
        if (c === '\ufeff') this.fail('byte order mark is not allowed');
        return this.fail(`unexpected character ${JSON.stringify(c)}`);
    }
  }

  private enter(depth: number): void {
    if (depth > MAX_JSON_DEPTH) {
      throw new StrictJsonError('depth', `nesting deeper than ${MAX_JSON_DEPTH} levels`, this.pos);
    }
  }

  private parseLiteral<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos)) this.fail('invalid literal');
    this.pos += word.length;
    return value;
  }

  private parseNumber(): number {
    NUMBER.lastIndex = this.pos;
    const match = NUMBER.exec(this.text);
    if (match === null) this.fail('invalid number');
    const start = this.pos;
    this.pos += match[0].length;
    const value = Number(match[0]);
    if (!Number.isFinite(value)) this.fail('number out of range', start);
    return value;
  }

  private parseString(): string {
    const { text } = this;
    this.pos++; // opening quote
    let out = '';
    let chunkStart = this.pos;
    while (true) {
      if (this.pos >= text.length) this.fail('unterminated string');
      const code = text.charCodeAt(this.pos);
      if (code === 0x22 /* " */) {
        out += text.slice(chunkStart, this.pos);
        this.pos++;
        return out;
      }
      if (code === 0x5c /* \ */) {
        out += text.slice(chunkStart, this.pos);
        out += this.parseEscape();
        chunkStart = this.pos;
        continue;
      }
      if (code < 0x20) this.fail('unescaped control character in string');
      if (isHighSurrogate(code)) {
        if (!isLowSurrogate(text.charCodeAt(this.pos + 1))) this.fail('lone surrogate in string');
        this.pos += 2;
        continue;
      }
      if (isLowSurrogate(code)) this.fail('lone surrogate in string');
      this.pos++;
    }
  }

  /** Parses one escape sequence starting at the backslash; returns the characters it stands for. */
  private parseEscape(): string {
    const { text } = this;
    const start = this.pos;
    const c = text[this.pos + 1];
    if (c === undefined) this.fail('unterminated string');
    if (c !== 'u') {
      const simple = Object.hasOwn(SIMPLE_ESCAPES, c) ? SIMPLE_ESCAPES[c] : undefined;
      if (simple === undefined) this.fail('invalid escape sequence', start);
      this.pos += 2;
      return simple;
    }
    const first = this.readHex4(start);
    if (isLowSurrogate(first)) this.fail('lone surrogate escape', start);
    if (!isHighSurrogate(first)) return String.fromCharCode(first);
    // A high surrogate must be followed immediately by an escaped low surrogate.
    if (text[this.pos] !== '\\' || text[this.pos + 1] !== 'u') this.fail('lone surrogate escape', start);
    const second = this.readHex4(this.pos);
    if (!isLowSurrogate(second)) this.fail('lone surrogate escape', start);
    return String.fromCharCode(first, second);
  }

  /** Reads `\uXXXX` at `at` (the backslash) and advances past it. */
  private readHex4(at: number): number {
    const hex = this.text.slice(at + 2, at + 6);
    if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('invalid \\u escape', at);
    this.pos = at + 6;
    return Number.parseInt(hex, 16);
  }

  private parseArray(depth: number): unknown[] {
    this.enter(depth);
    this.pos++; // [
    const result: unknown[] = [];
    this.skipWhitespace();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return result;
    }
    while (true) {
      this.skipWhitespace();
      result.push(this.parseValue(depth));
      this.skipWhitespace();
      const c = this.text[this.pos];
      if (c === ',') {
        this.pos++;
        continue;
      }
      if (c === ']') {
        this.pos++;
        return result;
      }
      this.fail(c === undefined ? 'unexpected end of input' : "expected ',' or ']'");
    }
  }

  private parseObject(depth: number): Record<string, unknown> {
    this.enter(depth);
    this.pos++; // {
    const result: Record<string, unknown> = {};
    const seen = new Set<string>();
    this.skipWhitespace();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return result;
    }
    while (true) {
      this.skipWhitespace();
      if (this.text[this.pos] !== '"') {
        this.fail(this.pos >= this.text.length ? 'unexpected end of input' : 'expected a member name');
      }
      const nameOffset = this.pos;
      const name = this.parseString();
      if (seen.has(name)) {
        throw new StrictJsonError('duplicate', `duplicate member name ${JSON.stringify(name)}`, nameOffset, name);
      }
      seen.add(name);
      this.skipWhitespace();
      if (this.text[this.pos] !== ':') this.fail("expected ':'");
      this.pos++;
      this.skipWhitespace();
      const value = this.parseValue(depth);
      // defineProperty, not assignment: a member named `__proto__` must become an own property (as with
      // JSON.parse), never the object's prototype.
      Object.defineProperty(result, name, { value, writable: true, enumerable: true, configurable: true });
      this.skipWhitespace();
      const c = this.text[this.pos];
      if (c === ',') {
        this.pos++;
        continue;
      }
      if (c === '}') {
        this.pos++;
        return result;
      }
      this.fail(c === undefined ? 'unexpected end of input' : "expected ',' or '}'");
    }
  }
}

/**
 * Parses `text` as one RFC 8259 JSON value, like `JSON.parse` but strict: throws {@link StrictJsonError} on a
 * syntax error, on a duplicate member name in any object, on a lone surrogate, on a leading byte order mark,
 * on a number that overflows a double, and on nesting deeper than {@link MAX_JSON_DEPTH}.
 */
export function parseStrictJson(text: string): unknown {
  if (typeof text !== 'string') throw new TypeError('parseStrictJson expects a string');
  return new Parser(text).parse();
}
