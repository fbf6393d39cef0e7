// prepack: the package's README is the repository's, with its relative links made absolute, so that they work
// on the npm page too (docs/…, CONTRIBUTING.md, examples/…; pictures through raw.githubusercontent.com).
import { readFileSync, writeFileSync } from 'node:fs';

const BLOB = 'https://github.com/oidc-provider-cimd/oidc-provider-cimd/blob/main';
const RAW = 'https://raw.githubusercontent.com/oidc-provider-cimd/oidc-provider-cimd/main';
const relative = String.raw`(?!https?:|#|mailto:)([^)\s]+)`;
const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')
  .replace(new RegExp(String.raw`(!\[[^\]]*\])\(${relative}\)`, 'g'), (_, alt, target) => `${alt}(${RAW}/${target})`)
  .replace(new RegExp(String.raw`\]\(${relative}\)`, 'g'), (_, target) => `](${BLOB}/${target})`);
writeFileSync(new URL('../README.md', import.meta.url), readme);
