import { readFileSync } from 'node:fs';

export type FixtureName = 'claude' | 'claude-code' | 'vscode' | 'zed';

export const FIXTURE_NAMES: readonly FixtureName[] = ['claude', 'claude-code', 'vscode', 'zed'];

/** `../shared` next to the repository root (this file is `<root>/test/helpers/fixtures.ts`). */
const FIXTURE_DIR = new URL('../../../shared/fixtures/client-documents/', import.meta.url);

/**
 * A real client metadata document from `../shared/fixtures/client-documents/<name>.json`, parsed, with its
 * `client_id` rewritten to `clientId` (the URL a test serves it from) when given.
 */
export function loadFixture(name: FixtureName, clientId?: string): Record<string, unknown> {
  const document = JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURE_DIR), 'utf8')) as Record<string, unknown>;
  if (clientId !== undefined) document.client_id = clientId;
  return document;
}
