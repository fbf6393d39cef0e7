/**
 * The command line's texts: each command's help lists exactly the options that command accepts; usage errors
 * carry one "cimd <command>: " prefix, never two; piping into `head` ends the command quietly; network and TLS
 * failures say what to do.
 */
import { buildConsentViewModel } from 'oidc-provider-cimd';
import { cimd, clientDoc, type DocServer, startDocServer, tempDir } from './support.js';

const COMMANDS = ['check', 'advise', 'clients', 'inspect', 'refresh', 'purge', 'pin', 'unpin', 'catalog'];
const FETCH = ['--issuer', '--allow-loopback', '--ca', '--server-metadata'];
const STORE = ['--redis', '--cluster', '--sentinels', '--sentinel-name', '--namespace'];
const URL_RULES = ['--issuer', '--allow-loopback'];
const EXPECTED: Record<string, string[]> = {
  check: ['--client-id', '--redirect-uri', '--verbose', ...FETCH, '--json', '--help'],
  advise: ['--ca', '--json', '--help'],
  clients: [...STORE, ...URL_RULES, '--json', '--help'],
  inspect: [...STORE, ...URL_RULES, '--json', '--help'],
  refresh: [...STORE, ...FETCH, '--json', '--help'],
  purge: [...STORE, ...URL_RULES, '--json', '--help'],
  pin: ['--from-file', ...STORE, ...FETCH, '--json', '--help'],
  unpin: [...STORE, ...URL_RULES, '--json', '--help'],
  catalog: ['--ca', '--json', '--help'],
};

const optionsIn = (help: string) =>
  [...help.slice(help.indexOf('\nOptions\n')).matchAll(/^ {2}(?:-\w, )?(--[a-z-]+)/gm)].map((match) => match[1]);

describe('per-command help', () => {
  test.each(COMMANDS)('cimd %s --help lists exactly the options it accepts', async (command) => {
    const help = await cimd([command, '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(new RegExp(`^Usage: cimd ${command}`));
    expect(optionsIn(help.stdout).sort()).toEqual([...EXPECTED[command]!].sort());
    // And the parser agrees: an option another command has is refused here.
    for (const option of ['--redis', '--ca', '--client-id'].filter((name) => !EXPECTED[command]!.includes(name))) {
      const run = await cimd([command, 'x', option, 'v']);
      expect({ option, code: run.code }).toEqual({ option, code: 2 });
    }
  });

  test('"cimd help <command>" is the same text', async () => {
    expect((await cimd(['help', 'inspect'])).stdout).toBe((await cimd(['inspect', '--help'])).stdout);
  });
});

describe('usage errors', () => {
  test.each([
    [['clients', 'extra', '--redis', 'redis://127.0.0.1:1'], 'takes no arguments'],
    [['inspect', 'https://app.example.com/c.json'], "needs the deployment's store"],
    [['check', 'https://a.example.com/c.json', 'https://b.example.com/c.json'], 'takes one URL or file'],
    [
      ['check', 'https://app.example.com/c.json', '--allow-loopback', '--issuer', 'https://as.example.com'],
      'allowLoopback',
    ],
    [['catalog', 'refresh'], 'the one subcommand is "cimd catalog drift"'],
  ])('cimd %j: one prefix', async (argv, text) => {
    const run = await cimd(argv);
    expect(run.code).toBe(2);
    const command = argv[0];
    expect(run.stderr.startsWith(`cimd ${command}: `)).toBe(true);
    expect(run.stderr).toContain(text);
    expect(run.stderr).not.toMatch(new RegExp(`cimd ${command}:? cimd ${command}`));
    expect(run.stderr).not.toContain(': oidc-provider-cimd: ');
  });
});

describe('network and TLS errors say what to do', () => {
  let docs: DocServer;
  beforeAll(async () => {
    docs = await startDocServer();
    docs.route('/.well-known/oauth-authorization-server', { body: { issuer: docs.url } });
  });
  afterAll(() => docs.close());

  test('an untrusted certificate: pass it with --ca (not Node --use-system-ca)', async () => {
    const run = await cimd(['advise', docs.url]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('is not trusted');
    expect(run.stderr).toContain('--ca FILE');
    expect(run.stderr).not.toContain('use-system-ca');
  });

  test('nothing listening: is the server running?', async () => {
    const run = await cimd(['check', clientDoc('x').client_id as string, '--server-metadata', 'https://127.0.0.1:1']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('ECONNREFUSED');
    expect(run.stderr).toContain('is the server running');
  });

  test('with --ca the same server is read', async () => {
    const tmp = await tempDir();
    try {
      const run = await cimd(['advise', docs.url, '--ca', tmp.ca]);
      // The metadata lacks the CIMD flag: every client falls short, which is exit 1, not a usage error.
      expect(run.code).toBe(1);
      expect(run.stdout).toContain('client_id_metadata_document_supported');
    } finally {
      tmp.cleanup();
    }
  });
});

test("cimd check predicts the consent page from the provider's own view model: its host, name and warnings", async () => {
  const tmp = await tempDir();
  try {
    const cid = 'https://app.example.com/oauth/cli.json';
    const document = { ...clientDoc(cid), client_name: 'Acme CLI', redirect_uris: ['http://127.0.0.1/callback'] };
    const redirectUri = 'http://127.0.0.1:7777/callback';
    const run = await cimd([
      'check',
      tmp.write('cli.json', JSON.stringify(document)),
      '--client-id',
      cid,
      '--redirect-uri',
      redirectUri,
    ]);
    expect(run.code).toBe(0);
    const view = buildConsentViewModel({
      uid: '',
      params: { client_id: cid, redirect_uri: redirectUri },
      promptDetails: {},
      accountId: undefined,
      clientId: cid,
      metadata: document,
      isMetadataDocumentClient: true,
      logoUrl: undefined,
      documentFingerprint: '',
      trusted: false,
      newClient: undefined,
      changes: [],
      now: Date.now(),
    });
    expect(view.warnings.map((warning) => warning.id)).toEqual(['loopback']);
    const page = run.stdout.slice(run.stdout.indexOf('On the consent page'));
    expect(page).toContain('client host     app.example.com');
    expect(page).toContain('“Acme CLI” (supplied by the client)');
    for (const warning of view.warnings) {
      expect(page).toContain(warning.title);
      expect(page).toContain(warning.text);
    }
  } finally {
    tmp.cleanup();
  }
});
