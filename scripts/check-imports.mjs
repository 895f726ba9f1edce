#!/usr/bin/env node
// The import-boundary lint (`npm run lint`): packages depend only downward, and only through each other's entry.
//
//   contracts  ←  platform  ←  api, audit-writer, baselines, mcp-proxy, notifier, siem-export  ←  thoth
//
// - A package imports another only as `@thoth/<name>` (its one `index.ts` entry), never `@thoth/<name>/<path>`,
//   and never reaches into another package's folder by a relative path (nor a `new URL('…', import.meta.url)`).
// - It imports only the packages its layer allows (LAYERS below), declares each in its package.json, and its
//   tsconfig.build.json references exactly those (else a clean `tsc -b` fails where an incremental one passes).
// - Every npm package its sources import is declared in its package.json (a test may use the root's dev ones).
// - Its package.json exports one entry, "." → { "thoth-source": src, "types", "default": dist }.
// - The one exception to "services never import each other": the API serves the baselines read model, which
//   `@thoth/baselines` exports from its entry (baselineView, baselineState).
// Tests and scripts outside services/ may reach internals by relative path: they are not packages; a unit test
// next to its module may use the shared fixtures of test/ and examples/. Every package may read the repository's
// schemas/ and the built console (console/dist) at run time.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What each package may import (besides npm packages and itself). */
export const LAYERS = {
  contracts: [],
  platform: ['contracts'],
  api: ['contracts', 'platform', 'baselines'],
  'audit-writer': ['contracts', 'platform'],
  baselines: ['contracts', 'platform'],
  'mcp-proxy': ['contracts', 'platform'],
  notifier: ['contracts', 'platform'],
  'siem-export': ['contracts', 'platform'],
  thoth: [
    'contracts',
    'platform',
    'api',
    'audit-writer',
    'baselines',
    'mcp-proxy',
    'notifier',
    'siem-export',
  ],
};

// Static imports and re-exports (their braces never hold a quote), side-effect imports, dynamic imports,
// require, import.meta.resolve and `new URL('./x', import.meta.url)` (how a thread's body is named).
const SPECIFIER =
  /(?:^\s*(?:import|export)\b[^'"`;]*?\bfrom\s*|^\s*import\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|\bimport\.meta\.resolve\s*\(\s*|\bnew URL\s*\(\s*(?=['"`]\.))(['"`])([^'"`\n]+)\1/gm;
/** Folders of the repository every package may read at run time (not code): the schemas, the built console. */
const SHARED_ASSETS = ['schemas', 'console/dist'];
const BUILTINS = new Set(builtinModules);
const TEST_FILE = /\.test\.tsx?$/;

/** The npm package a bare specifier names (`@scope/name/sub` → `@scope/name`), or null for a builtin. */
function npmPackageOf(spec) {
  if (spec.startsWith('node:') || BUILTINS.has(spec.split('/')[0])) return null;
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** The module specifiers a source text imports (static, side-effect and dynamic imports, re-exports). */
export function importsOf(text) {
  return [...text.matchAll(SPECIFIER)].map((m) => m[2]);
}

/**
 * The violations of one file of package `pkg`: `file` is its path inside the package folder `pkgDir`,
 * `declared` the @thoth packages its package.json lists.
 */
export function violationsOf(pkg, pkgDir, file, text, declared, npm = { own: [], root: [] }) {
  const problems = [];
  const allowed = LAYERS[pkg];
  if (!allowed) return [`${pkg}: a package the layer table does not name (add it to LAYERS in ${SCRIPT})`];
  for (const spec of importsOf(text)) {
    const own = /^@thoth\/([^/]+)(\/.*)?$/.exec(spec);
    if (own) {
      const [, target, deep] = own;
      if (deep)
        problems.push(
          `${file}: imports '${spec}': import '@thoth/${target}' (its entry), not a path inside it`,
        );
      if (target === pkg)
        problems.push(`${file}: imports its own package by name ('${spec}'); use a relative path`);
      else if (!allowed.includes(target))
        problems.push(
          `${file}: imports '@thoth/${target}', which the ${pkg} layer may not (allowed: ${allowed.join(', ') || 'none'})`,
        );
      else if (!declared.includes(`@thoth/${target}`))
        problems.push(
          `${file}: imports '@thoth/${target}' without declaring it in services/${pkg}/package.json`,
        );
    } else if (spec.startsWith('.')) {
      const target = resolve(dirname(join(pkgDir, file)), spec);
      const root = resolve(pkgDir, '../..');
      const within = (folder) => target === join(root, folder) || target.startsWith(join(root, folder) + sep);
      const sharedFixture = TEST_FILE.test(file) && (within('test') || within('examples'));
      if (!target.startsWith(pkgDir + sep) && !sharedFixture && !SHARED_ASSETS.some(within))
        problems.push(`${file}: imports '${spec}', outside its package`);
    } else if (/^[a-z@]/.test(spec) && !/^[a-z]+:/.test(spec)) {
      const name = npmPackageOf(spec);
      if (name && !npm.own.includes(name) && !(TEST_FILE.test(file) && npm.root.includes(name)))
        problems.push(`${file}: imports '${name}' without declaring it in services/${pkg}/package.json`);
    }
  }
  return problems;
}

function sourcesUnder(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourcesUnder(path));
    else if (/\.(ts|mts|cts|tsx|mjs|cjs|js)$/.test(name) && !/\.d\.[cm]?ts$/.test(name)) out.push(path);
  }
  return out;
}

/** Every violation under services/. */
export function checkRepository(root) {
  const problems = [];
  const servicesDir = join(root, 'services');
  const rootManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const rootDev = Object.keys({ ...rootManifest.dependencies, ...rootManifest.devDependencies });
  const built = readJson(join(root, 'tsconfig.build.json')).references.map((r) => r.path);
  for (const pkg of readdirSync(servicesDir).sort()) {
    const pkgDir = join(servicesDir, pkg);
    const manifest = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
    const own = Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies });
    const declared = own.filter((name) => name.startsWith('@thoth/'));
    problems.push(...manifestProblems(pkg, manifest));
    for (const path of sourcesUnder(pkgDir)) {
      const file = relative(pkgDir, path);
      const text = readFileSync(path, 'utf8');
      const found = violationsOf(pkg, pkgDir, file, text, declared, { own, root: rootDev });
      problems.push(...found.map((p) => `services/${pkg}/${p}`));
    }
    for (const name of declared) {
      const target = name.slice('@thoth/'.length);
      if (!LAYERS[pkg]?.includes(target))
        problems.push(`services/${pkg}/package.json declares ${name}, which its layer may not import`);
    }
    const buildConfig = join(pkgDir, 'tsconfig.build.json');
    if (!existsSync(buildConfig)) {
      problems.push(`services/${pkg}: no tsconfig.build.json (tsc -b builds every package)`);
      continue;
    }
    const references = (readJson(buildConfig).references ?? []).map((r) => r.path).sort();
    const expected = declared.map((name) => `../${name.slice('@thoth/'.length)}/tsconfig.build.json`).sort();
    if (references.join() !== expected.join())
      problems.push(
        `services/${pkg}/tsconfig.build.json references [${references.join(', ')}], its package.json declares [${expected.join(', ')}]: they must match`,
      );
    if (!built.includes(`services/${pkg}/tsconfig.build.json`))
      problems.push(`tsconfig.build.json does not reference services/${pkg}/tsconfig.build.json`);
  }
  return problems;
}

/** The one export shape: "." with the sources under `thoth-source` and the compiled entry otherwise. */
function manifestProblems(pkg, manifest) {
  const entry = manifest.exports?.['.'];
  const keys = Object.keys(manifest.exports ?? {});
  const ok =
    keys.every((key) => key === '.' || key === './package.json') &&
    entry?.['thoth-source'] === './src/index.ts' &&
    entry?.types === './dist/index.d.ts' &&
    entry?.default === './dist/index.js';
  return ok
    ? []
    : [
        `services/${pkg}/package.json: "exports" must be { ".": { "thoth-source": "./src/index.ts", "types": "./dist/index.d.ts", "default": "./dist/index.js" } }`,
      ];
}

/** A tsconfig file: JSON with comments. */
function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8').replace(/^\s*\/\/.*$/gm, ''));
}

const SCRIPT = 'scripts/check-imports.mjs';

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(
      'usage: node scripts/check-imports.mjs\n\nThe import-boundary lint of `npm run lint`: packages depend only downward, through their\nentries, and declare what they import (see the comment at the top of this file). Exit 1 on a violation.\n',
    );
    process.exit(0);
  }
  const problems = checkRepository(resolve(dirname(fileURLToPath(import.meta.url)), '..'));
  if (problems.length > 0) {
    console.error(`import boundaries: ${problems.length} violation(s)\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  console.log('import boundaries: every package imports only downward, through entries it declares');
}
