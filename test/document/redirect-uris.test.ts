import {
  isLoopbackOnly,
  isLoopbackRedirectUri,
  redirectUriMatches,
} from '../../packages/oidc-provider-cimd/src/rules/redirect-uris.js';

describe('isLoopbackRedirectUri', () => {
  test.each([
    'http://localhost/callback',
    'http://localhost:58135/callback',
    'http://127.0.0.1/callback',
    'http://127.0.0.1:33418/',
    'http://[::1]/cb',
    'http://[::1]:8080/cb?x=1',
    'HTTP://LOCALHOST/cb',
  ])('%s is loopback', (uri) => {
    expect(isLoopbackRedirectUri(uri)).toBe(true);
  });

  test.each([
    'https://localhost/callback',
    'https://127.0.0.1/callback',
    'http://localhost.example.com/cb',
    'http://127.0.0.2/cb',
    'http://[::2]/cb',
    'http://localhost./cb',
    'http://example.com/cb',
    'com.example.app:/callback',
    'not a uri',
    '',
  ])('%s is not loopback', (uri) => {
    expect(isLoopbackRedirectUri(uri)).toBe(false);
  });
});

describe('isLoopbackOnly', () => {
  test('all loopback', () => {
    expect(isLoopbackOnly(['http://localhost/callback', 'http://127.0.0.1/callback'])).toBe(true);
  });
  test('mixed', () => {
    expect(isLoopbackOnly(['http://127.0.0.1:33418/', 'https://vscode.dev/redirect'])).toBe(false);
  });
  test('none at all is not loopback-only', () => {
    expect(isLoopbackOnly([])).toBe(false);
  });
});

describe('redirectUriMatches', () => {
  const claudeCode = ['http://localhost/callback', 'http://127.0.0.1/callback'];

  test('exact match, web or native', () => {
    expect(redirectUriMatches(['https://app.example.com/cb'], 'https://app.example.com/cb', false)).toBe(true);
    expect(redirectUriMatches(['https://app.example.com/cb'], 'https://app.example.com/cb', true)).toBe(true);
    expect(redirectUriMatches(claudeCode, 'http://localhost/callback', false)).toBe(true);
  });

  test('no normalisation of either side', () => {
    expect(redirectUriMatches(['https://app.example.com/cb'], 'https://APP.example.com/cb', true)).toBe(false);
    expect(redirectUriMatches(['https://app.example.com/cb'], 'https://app.example.com:443/cb', true)).toBe(false);
    expect(redirectUriMatches(['https://app.example.com/cb'], 'https://app.example.com/cb/', true)).toBe(false);
    expect(redirectUriMatches(['https://app.example.com'], 'https://app.example.com/', true)).toBe(false);
    expect(redirectUriMatches(claudeCode, 'http://LOCALHOST:5/callback', true)).toBe(false);
  });

  test('native loopback: any port, on portless registrations', () => {
    expect(redirectUriMatches(claudeCode, 'http://localhost:58135/callback', true)).toBe(true);
    expect(redirectUriMatches(claudeCode, 'http://127.0.0.1:40000/callback', true)).toBe(true);
    expect(redirectUriMatches(claudeCode, 'http://127.0.0.1:/callback', true)).toBe(true);
  });

  test('native loopback: any port, on registrations with a port', () => {
    const vscode = ['http://127.0.0.1:33418/', 'https://vscode.dev/redirect'];
    expect(redirectUriMatches(vscode, 'http://127.0.0.1:33418/', true)).toBe(true);
    expect(redirectUriMatches(vscode, 'http://127.0.0.1:50000/', true)).toBe(true);
    expect(redirectUriMatches(vscode, 'http://127.0.0.1/', true)).toBe(true);
    expect(redirectUriMatches(vscode, 'http://localhost:33418/', true)).toBe(false);
    expect(redirectUriMatches(['http://[::1]:1/cb'], 'http://[::1]:2/cb', true)).toBe(true);
  });

  test('native loopback: scheme, host, path and query still match exactly', () => {
    expect(redirectUriMatches(claudeCode, 'http://127.0.0.1:40000/other', true)).toBe(false);
    expect(redirectUriMatches(claudeCode, 'https://localhost:58135/callback', true)).toBe(false);
    expect(redirectUriMatches(claudeCode, 'http://localhost:58135/callback?x=1', true)).toBe(false);
    expect(redirectUriMatches(claudeCode, 'http://localhost:58135/callback/', true)).toBe(false);
    expect(redirectUriMatches(claudeCode, 'http://[::1]:58135/callback', true)).toBe(false);
    expect(redirectUriMatches(claudeCode, 'http://user@localhost:58135/callback', true)).toBe(false);
    expect(redirectUriMatches(claudeCode, 'http://localhost:58135/callback#x', true)).toBe(false);
    expect(redirectUriMatches(['http://localhost/cb?a=1'], 'http://localhost:9/cb?a=1', true)).toBe(true);
    expect(redirectUriMatches(['http://localhost/cb?a=1'], 'http://localhost:9/cb?a=2', true)).toBe(false);
  });

  test('native: no port exception for non-loopback or https registrations', () => {
    expect(redirectUriMatches(['https://localhost/cb'], 'https://localhost:8443/cb', true)).toBe(false);
    expect(redirectUriMatches(['https://app.example.com/cb'], 'https://app.example.com:8443/cb', true)).toBe(false);
    expect(redirectUriMatches(['http://127.0.0.2/cb'], 'http://127.0.0.2:80/cb', true)).toBe(false);
  });

  test('a non-numeric port is never relaxed', () => {
    expect(redirectUriMatches(claudeCode, 'http://localhost:abc/callback', true)).toBe(false);
  });

  test('web clients do not get the port exception', () => {
    expect(redirectUriMatches(claudeCode, 'http://localhost:58135/callback', false)).toBe(false);
    expect(redirectUriMatches(claudeCode, 'http://127.0.0.1:40000/callback', false)).toBe(false);
  });
});
