// Builds dist/ for the published package: ESM (dist/esm) and CommonJS (dist/cjs), each with .d.ts.
// `npm pack` / `npm publish` run it (prepack). The ESM build type-checks; the CommonJS one only re-emits.
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(join(pkg, 'package.json')).resolve('typescript/bin/tsc');

rmSync(join(pkg, 'dist'), { recursive: true, force: true });
await Promise.all(
  ['tsconfig.build.json', 'tsconfig.build-cjs.json'].map((config) =>
    run(process.execPath, [tsc, '-p', join(pkg, config)], { cwd: pkg }).catch((error) => {
      process.stderr.write(`${error.stdout}${error.stderr}`);
      throw new Error(`tsc -p ${config} failed`);
    }),
  ),
);
// The package is "type": "module"; this marks dist/cjs/*.js (and its .d.ts) as CommonJS.
mkdirSync(join(pkg, 'dist/cjs'), { recursive: true });
writeFileSync(join(pkg, 'dist/cjs/package.json'), '{ "type": "commonjs" }\n');
