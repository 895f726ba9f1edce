#!/usr/bin/env node
// The import-boundary lint (`npm run lint`): packages depend only downward, and only through each other's entry.
//
//   contracts  ←  platform  ←  api, audit-writer, baselines, mcp-proxy, notifier, siem-export  ←  thoth
//
// - A package imports another only as `@thoth/<name>` (its one `index.ts` entry), never `@thoth/<name>/<path>`,
//   and never reaches into another package's folder by a relative path.
// - It imports only the packages its layer allows (LAYERS below) and declares each in its package.json.
// - The one exception to "services never import each other": the API serves the baselines read model, which
//   `@thoth/baselines` exports from its entry (baselineView, baselineState).
// Tests and scripts outside services/ may reach internals by relative path: they are not packages; a unit test
// next to its module may use the shared fixtures of test/.
import { readdirSync, readFileSync, statSync } from 'node:fs';
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

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(['"])([^'"\n]+)\1/gm;

/** The module specifiers a source text imports (static, side-effect and dynamic imports, re-exports). */
export function importsOf(text) {
  return [...text.matchAll(SPECIFIER)].map((m) => m[2]);
}

/**
 * The violations of one file of package `pkg`: `file` is its path inside the package folder `pkgDir`,
 * `declared` the @thoth packages its package.json lists.
 */
export function violationsOf(pkg, pkgDir, file, text, declared) {
  const problems = [];
  const allowed = LAYERS[pkg];
  if (!allowed) return [`${pkg}: a package the layer table does not name (add it to LAYERS in ${SCRIPT})`];
  for (const spec of importsOf(text)) {
    const own = /^@thoth\/([^/]+)(\/.*)?$/.exec(spec);
    if (own) {
      const [, target, deep] = own;
      if (target === 'sdk') continue;
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
      const sharedFixture =
        /\.test\.ts$/.test(file) && target.startsWith(resolve(pkgDir, '../../test') + sep);
      if (!target.startsWith(pkgDir + sep) && !sharedFixture)
        problems.push(`${file}: imports '${spec}', outside its package`);
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
    else if (/\.(ts|mts|mjs|js)$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Every violation under services/. */
export function checkRepository(root) {
  const problems = [];
  const servicesDir = join(root, 'services');
  for (const pkg of readdirSync(servicesDir).sort()) {
    const pkgDir = join(servicesDir, pkg);
    const manifest = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
    const declared = Object.keys(manifest.dependencies ?? {}).filter((name) => name.startsWith('@thoth/'));
    const entry = manifest.exports?.['.'];
    if (!entry || Object.keys(manifest.exports).some((key) => key !== '.' && key !== './package.json'))
      problems.push(
        `services/${pkg}/package.json: "exports" must have the one entry "." (and "./package.json")`,
      );
    for (const path of sourcesUnder(pkgDir)) {
      const file = relative(pkgDir, path);
      problems.push(
        ...violationsOf(pkg, pkgDir, file, readFileSync(path, 'utf8'), declared).map(
          (p) => `services/${pkg}/${p}`,
        ),
      );
    }
    for (const name of declared) {
      const target = name.slice('@thoth/'.length);
      if (!LAYERS[pkg]?.includes(target))
        problems.push(`services/${pkg}/package.json declares ${name}, which its layer may not import`);
    }
  }
  return problems;
}

const SCRIPT = 'scripts/check-imports.mjs';

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const problems = checkRepository(resolve(dirname(fileURLToPath(import.meta.url)), '..'));
  if (problems.length > 0) {
    console.error(`import boundaries: ${problems.length} violation(s)\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  console.log('import boundaries: every package imports only downward, through entries it declares');
}
