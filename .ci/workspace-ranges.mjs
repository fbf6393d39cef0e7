#!/usr/bin/env node
// `npm pack` copies `workspace:` ranges into the tarball as they are, and npm cannot install them; `pnpm pack`
// rewrites them. So that both pack a package that installs, the package's prepack runs `pin` (every
// `workspace:^` / `workspace:~` / `workspace:*` dependency becomes `^x.y.z` / `~x.y.z` / `x.y.z` of the sibling
// package in this repository) and its postpack runs `restore`. Usage, in a package folder:
//   node ../../.ci/workspace-ranges.mjs pin|restore
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const manifest = resolve('package.json');
const backup = `${manifest}.workspace-backup`;
const mode = process.argv[2];

if (mode === 'restore') {
  if (existsSync(backup)) renameSync(backup, manifest);
  process.exit(0);
}
if (mode !== 'pin') {
  console.error('usage: workspace-ranges.mjs pin|restore');
  process.exit(2);
}

const versions = new Map();
for (const folder of ['packages', 'examples']) {
  for (const name of readdirSync(join(root, folder))) {
    const file = join(root, folder, name, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8'));
    versions.set(pkg.name, pkg.version);
  }
}

const text = readFileSync(manifest, 'utf8');
const pkg = JSON.parse(text);
let changed = false;
for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
  for (const [name, range] of Object.entries(pkg[field] ?? {})) {
    if (typeof range !== 'string' || !range.startsWith('workspace:')) continue;
    const version = versions.get(name);
    if (!version) {
      console.error(`workspace-ranges: ${name} (${range}) is not a package of this repository`);
      process.exit(1);
    }
    const kind = range.slice('workspace:'.length);
    pkg[field][name] = kind === '*' ? version : kind === '^' || kind === '~' ? `${kind}${version}` : kind;
    changed = true;
  }
}
if (changed) {
  if (!existsSync(backup)) writeFileSync(backup, text);
  writeFileSync(manifest, `${JSON.stringify(pkg, null, 2)}\n`);
}
