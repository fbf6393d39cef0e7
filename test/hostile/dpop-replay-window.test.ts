/**
 * Finding 7 (RFC 9449 §11.1): the example's `/mcp` replay cache must remember a proof's `jti` for as long as the
 * proof is acceptable. jose accepts an `iat` up to the clock skew ahead and a proof until `iat + max age + skew`:
 * a proof dated 60 s ahead and used at once stays acceptable 420 s, so a cache of 360 s let it be replayed at
 * 362 s. Checked against jose itself: the proof is verified at the moment its `jti` would be forgotten.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, test } from '@jest/globals';
import { EmbeddedJWK, exportJWK, jwtVerify, SignJWT } from 'jose';
import { DPOP_CLOCK_SKEW_S, DPOP_MAX_AGE_S, dpopReplayTtlMs } from '../../examples/koa-server/src/mcp.js';

async function proofAt(iat: number): Promise<string> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return new SignJWT({ jti: 'j1', htm: 'POST', htu: 'http://localhost/mcp', iat })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(publicKey) })
    .sign(privateKey);
}

/** What the example's verifier accepts at `nowS` (the same jose options as examples/koa-server/src/mcp.ts). */
async function acceptable(proof: string, nowS: number): Promise<boolean> {
  try {
    await jwtVerify(proof, EmbeddedJWK, {
      typ: 'dpop+jwt',
      requiredClaims: ['jti', 'htm', 'htu', 'iat'],
      maxTokenAge: DPOP_MAX_AGE_S,
      clockTolerance: DPOP_CLOCK_SKEW_S,
      currentDate: new Date(nowS * 1000),
    });
    return true;
  } catch {
    return false;
  }
}

describe('DPoP replay window', () => {
  test.each([0, 30, DPOP_CLOCK_SKEW_S])(
    'a proof dated %i s ahead is no longer acceptable once its jti is forgotten',
    async (ahead) => {
      const firstUseS = 1_800_000_000;
      const proof = await proofAt(firstUseS + ahead);
      expect(await acceptable(proof, firstUseS)).toBe(true);
      const forgottenAtS = firstUseS + dpopReplayTtlMs(firstUseS + ahead, firstUseS * 1000) / 1000;
      expect(await acceptable(proof, forgottenAtS)).toBe(false);
      expect(await acceptable(proof, forgottenAtS - 2)).toBe(true);
    },
  );
});
