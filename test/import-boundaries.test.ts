import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ESM script with no type declarations
import { checkRepository, violationsOf } from '../scripts/check-imports.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkgDir = join(root, 'services', 'api');

describe('the import-boundary lint (scripts/check-imports.mjs)', () => {
  it('finds no violation in the repository', () => {
    expect(checkRepository(root)).toEqual([]);
  });

  it('refuses a path inside another package, an undeclared package and a package above the layer', () => {
    const declared = ['@thoth/contracts', '@thoth/platform'];
    const check = (pkg: string, text: string) =>
      violationsOf(pkg, join(root, 'services', pkg), 'src/x.ts', text, declared);
    expect(check('api', "import { Store } from '@thoth/platform/store/store';")[0]).toMatch(
      /not a path inside it/,
    );
    expect(check('api', "import { baselineView } from '@thoth/baselines';")[0]).toMatch(/without declaring/);
    expect(check('audit-writer', "import { startApiService } from '@thoth/api';")[0]).toMatch(/may not/);
    expect(check('platform', "const m = await import('@thoth/api');")[0]).toMatch(/may not/);
    expect(check('contracts', "export * from '@thoth/platform';")[0]).toMatch(/may not/);
    expect(check('api', "import { x } from '../../audit-writer/src/audit-writer.ts';")[0]).toMatch(
      /outside its package/,
    );
    expect(check('api', "import { ulid } from '@thoth/contracts';\nimport { a } from './y.ts';")).toEqual([]);
    expect(
      check('api', "const body = new URL('../../../audit-writer/src/x.ts', import.meta.url);")[0],
    ).toMatch(/outside its package/);
    expect(check('api', "import { z } from 'zod';")[0]).toMatch(/'zod' without declaring it/);
    const npm = { own: ['zod'], root: ['vitest'] };
    const withNpm = (file: string, text: string) => violationsOf('api', pkgDir, file, text, declared, npm);
    expect(withNpm('src/x.ts', "import { z } from 'zod';\nimport { readFileSync } from 'node:fs';")).toEqual(
      [],
    );
    expect(withNpm('src/x.ts', "import { it } from 'vitest';")[0]).toMatch(/'vitest' without declaring/);
    expect(withNpm('src/x.test.ts', "import { it } from 'vitest';")).toEqual([]);
    expect(withNpm('src/x.ts', "// text from 'somewhere' in a comment\nconst s = 'from \"x\"';")).toEqual([]);
  });

  it('lets a unit test use the shared fixtures of test/, and nothing else outside its package', () => {
    const text = "import { fixture } from '../../../test/fixtures.ts';";
    expect(violationsOf('api', pkgDir, 'src/a.test.ts', text, [])).toEqual([]);
    expect(violationsOf('api', pkgDir, 'src/a.ts', text)).not.toEqual([]);
  });
});
