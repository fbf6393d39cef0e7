/**
 * The known-clients catalog and `cimd catalog drift`: exact ids before the patterns that also match them, a
 * snapshot for each shipped document, and the drift report against local HTTPS servers (the fixtures: mcpc's
 * twenty loopback ports, a Notion-style two-origin pair).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type KnownClient, knownClientFor, knownClients } from 'oidc-provider-cimd';
import {
  catalogDocuments,
  catalogDrift,
  formatDrift,
  SNAPSHOT_DIR,
  snapshotFileName,
} from '../../packages/cli/src/catalog.js';
import { createStyle } from '../../packages/cli/src/io.js';
import { getTestCertificate } from '../helpers/certs.js';
import { type DocServer, startDocServer } from './support.js';

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../fixtures/client-documents/${name}`, import.meta.url), 'utf8')) as Record<
    string,
    unknown
  >;

describe('the catalog', () => {
  test('every exact id is attributed to its own entry (exact ids come before patterns that match them)', () => {
    for (const client of knownClients) {
      for (const id of client.patterns.filter((pattern) => !pattern.includes('*'))) {
        expect({ id, owner: knownClientFor(id)?.name }).toEqual({ id, owner: client.name });
      }
    }
  });

  test('the clients the issue names are listed, each with a source and a check date', () => {
    const names = knownClients.map((client) => client.name);
    for (const name of [
      'VS Code Insiders',
      'Notion',
      'MCPJam Inspector',
      'Factory Droid',
      'ToolHive',
      'Hermes Agent',
      'Skydive',
      'mcpc',
    ]) {
      expect(names).toContain(name);
    }
    expect(knownClients.find((client) => client.name === 'Notion')?.patterns).toHaveLength(2);
  });

  test('every shipped snapshot is the document of an exact catalog id', () => {
    const ids = new Set(knownClients.flatMap((client) => client.patterns));
    const files = readdirSync(SNAPSHOT_DIR);
    expect(files.length).toBeGreaterThanOrEqual(5);
    for (const file of files) {
      const document = JSON.parse(readFileSync(new URL(file, SNAPSHOT_DIR), 'utf8')) as { client_id: string };
      expect({ file, known: ids.has(document.client_id), name: snapshotFileName(document.client_id) }).toEqual({
        file,
        known: true,
        name: file,
      });
    }
  });
});

describe('cimd catalog drift', () => {
  let www: DocServer;
  let app: DocServer;
  let dir: string;
  let ca: string;
  const options = () => ({ allowLoopback: true, issuer: 'http://localhost', ca });

  beforeAll(async () => {
    www = await startDocServer();
    app = await startDocServer();
    ca = (await getTestCertificate()).cert;
    dir = mkdtempSync(path.join(tmpdir(), 'cimd-catalog-'));
  });
  afterAll(async () => {
    await www.close();
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Serves `document` (client_id set to its URL) and writes the same as the snapshot. */
  function publish(server: DocServer, route: string, document: Record<string, unknown>): string {
    const cid = server.cid(route);
    server.route(route, { body: { ...document, client_id: cid } });
    writeFileSync(path.join(dir, snapshotFileName(cid)), JSON.stringify({ ...document, client_id: cid }));
    return cid;
  }

  test('no drift: the live documents equal their snapshots (mcpc, a Notion-style pair on two origins)', async () => {
    const mcpc = publish(www, '/mcpc/client-metadata.json', fixture('mcpc.json'));
    const notionWww = publish(www, '/oauth/mcp-client-metadata.json', fixture('notion-www.json'));
    const notionApp = publish(app, '/oauth/mcp-client-metadata.json', fixture('notion-app.json'));
    const entries: KnownClient[] = [
      { ...knownClients.find((client) => client.name === 'mcpc')!, patterns: [mcpc] },
      { ...knownClients.find((client) => client.name === 'Notion')!, patterns: [notionWww, notionApp] },
    ];
    const documents = await catalogDocuments(entries, pathToFileURL(`${dir}/`));
    expect(documents.map((document) => [document.client, document.snapshot !== undefined])).toEqual([
      ['mcpc', true],
      ['Notion', true],
      ['Notion', true],
    ]);
    const results = await catalogDrift(documents, options());
    expect(results.map((result) => [result.client, result.status, result.drifted])).toEqual([
      ['mcpc', 200, false],
      ['Notion', 200, false],
      ['Notion', 200, false],
    ]);
    expect(formatDrift(results, createStyle(false))).toContain('NO DRIFT 3 documents match their snapshots');
  });

  test('drift: redirect URIs added and removed, the auth method, a refused document, no snapshot', async () => {
    const ports = fixture('mcpc.json');
    const cid = publish(www, '/mcpc2.json', ports);
    // The live document now drops one of the twenty ports and adds another.
    const redirects = (ports.redirect_uris as string[]).filter((uri) => uri !== 'http://localhost:13325/callback');
    www.route('/mcpc2.json', {
      body: { ...ports, client_id: cid, redirect_uris: [...redirects, 'http://127.0.0.1:13399/callback'] },
    });
    const authChanged = publish(www, '/auth.json', fixture('notion-www.json'));
    www.route('/auth.json', {
      body: {
        ...fixture('notion-www.json'),
        client_id: authChanged,
        token_endpoint_auth_method: 'private_key_jwt',
        jwks_uri: www.cid('/jwks'),
      },
    });
    const gone = publish(www, '/gone.json', fixture('notion-www.json'));
    www.route('/gone.json', { status: 404, body: 'not found' });
    const mismatch = publish(app, '/mismatch.json', fixture('notion-app.json'));
    app.route('/mismatch.json', { body: { ...fixture('notion-app.json'), client_id: app.cid('/elsewhere.json') } });
    const unsnapshotted = app.route('/new.json', {
      body: { ...fixture('notion-app.json'), client_id: app.cid('/new.json') },
    });

    const results = await catalogDrift(
      [cid, authChanged, gone, mismatch, unsnapshotted].map((clientId) => ({
        client: 'X',
        clientId,
        snapshot:
          clientId === unsnapshotted ? undefined : readFileSync(path.join(dir, snapshotFileName(clientId)), 'utf8'),
      })),
      options(),
    );
    const [ports2, auth, status, idMismatch, none] = results;
    expect(ports2).toMatchObject({
      drifted: true,
      redirectUris: { added: ['http://127.0.0.1:13399/callback'], removed: ['http://localhost:13325/callback'] },
    });
    expect(auth?.drifts.map((drift) => drift.kind)).toEqual(['auth_method']);
    expect(auth?.drifts[0]?.message).toBe('auth method none → private_key_jwt');
    expect(status).toMatchObject({ drifted: true, drifts: [{ kind: 'rejected' }] });
    expect(status?.drifts[0]?.message).toContain('rejected:status');
    expect(idMismatch?.drifts[0]?.message).toContain('rejected:client_id_mismatch');
    expect(none?.drifts.map((drift) => drift.kind)).toEqual(['no_snapshot']);
    const text = formatDrift(results, createStyle(false));
    expect(text).toContain('redirect_uris +http://127.0.0.1:13399/callback -http://localhost:13325/callback');
    expect(text).toContain('DRIFT 5 of 5 documents');
  });

  test('an unreachable host is drift, not a crash', async () => {
    const [result] = await catalogDrift(
      [{ client: 'Y', clientId: 'https://localhost:1/client.json', snapshot: undefined }],
      options(),
    );
    expect(result).toMatchObject({ status: undefined, drifted: true });
    expect(result?.drifts[0]?.kind).toBe('unreachable');
  });
});
