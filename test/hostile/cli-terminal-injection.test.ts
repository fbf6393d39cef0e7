/**
 * Finding 8: `cimd check` (and every CLI command that prints client-supplied text) must not hand a document's
 * ESC/OSC sequences, C1 controls or bidi overrides to the operator's terminal: erase the line and print a fake
 * "ACCEPTED", write the clipboard through OSC 52, or reorder what is read. `--json` output stays as it is
 * (JSON escapes them).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { cimd, clientDoc, tempDir } from '../cli/support.js';

const CID = 'https://app.example.com/oauth/client.json';
const ESC = '\u001b';
const HOSTILE_NAME = `Good App${ESC}[2K${ESC}[1A\rACCEPTED${ESC}]52;c;ZXZpbA==\u0007\u009b31m\u202egnp.exe`;
const HOSTILE_SCOPE = `openid x${ESC}]0;pwned\u0007 y\u2066z`;

// Every character a terminal or a bidi algorithm acts on: C0 (but \n), DEL, C1, bidi embeddings/overrides/isolates.
const isActive = (code: number) =>
  (code < 0x20 && code !== 0x0a) ||
  (code >= 0x7f && code <= 0x9f) ||
  (code >= 0x202a && code <= 0x202e) ||
  (code >= 0x2066 && code <= 0x2069);
const activeIn = (text: string) => [...text].filter((char) => isActive(char.codePointAt(0)!));
const c0In = (text: string) => [...text].filter((char) => char.codePointAt(0)! < 0x20 && char !== '\n');

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  tmp = await tempDir();
});
afterAll(() => tmp.cleanup());

describe('the CLI neutralises client-supplied text', () => {
  test('cimd check prints no control, escape or bidi character of the document', async () => {
    const file = tmp.write(
      'hostile.json',
      JSON.stringify(clientDoc(CID, { client_name: HOSTILE_NAME, scope: HOSTILE_SCOPE })),
    );
    const run = await cimd(['check', file, '--client-id', CID, '--verbose']);
    expect(run.stdout).toContain('Good App');
    expect(activeIn(run.stdout)).toEqual([]);
    expect(activeIn(run.stderr)).toEqual([]);
    // One ACCEPTED line at most, and it is the CLI's verdict, not the client's name.
    expect(run.stdout).toContain('\ufffd');
  });

  test('--json output is unchanged: the document text survives, escaped by JSON', async () => {
    const file = tmp.write('hostile2.json', JSON.stringify(clientDoc(CID, { client_name: HOSTILE_NAME })));
    const run = await cimd(['check', file, '--client-id', CID, '--json']);
    expect(c0In(run.stdout)).toEqual([]);
    expect(run.json().client.clientName).toBe(HOSTILE_NAME);
  });
});
