import { readFileSync } from 'node:fs';

export type FixtureName = 'claude' | 'claude-code' | 'vscode' | 'zed';

export const FIXTURE_NAMES: readonly FixtureName[] = ['claude', 'claude-code', 'vscode', 'zed'];

/**
 * Inside the repository (this file is `<root>/test/helpers/fixtures.ts`), so a fresh clone runs the tests with
 * nothing beside it. `test/fixtures/client-documents/README.md` says where each document comes from.
 */
const FIXTURE_DIR = new URL('../fixtures/client-documents/', import.meta.url);

/**
 * A real client metadata document from `test/fixtures/client-documents/<name>.json`, parsed, with its
 * `client_id` rewritten to `clientId` (the URL a test serves it from) when given.
 */
export function loadFixture(name: FixtureName, clientId?: string): Record<string, unknown> {
  const document = JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURE_DIR), 'utf8')) as Record<string, unknown>;
  if (clientId !== undefined) document.client_id = clientId;
  return document;
}
