import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedThoth, startEmbeddedThoth } from './support/embedded-thoth.ts';

/**
 * @thoth/sdk installs like a real package: `npm pack` (its prepack builds dist/) gives a tarball that an empty
 * project outside the repository installs offline, then runs from ESM and from CommonJS against a running
 * Thoth (one ALLOW, one BLOCK), and type-checks with `moduleResolution: nodenext`.
 *
 * The package directory is packed from a copy in a temporary directory, so the test never writes dist/ into
 * the checkout (other runs and typechecks in the same tree are not disturbed). The copy is the whole package
 * directory; its node_modules links to the repository's, where the build finds typescript.
 */

const run = promisify(execFile);
const SDK = resolve(import.meta.dirname, '..');
const ROOT = resolve(SDK, '../..');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

let work: string;
let consumer: string;
let thoth: EmbeddedThoth;
let packed: { filename: string; files: { path: string }[] };

/** npm without the npm_* settings of an enclosing `npm test` (local prefix, workspace, …). */
function npmEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
}

async function npm(args: string[], cwd: string): Promise<string> {
  try {
    return (await run('npm', args, { cwd, env: npmEnv(), timeout: 90_000 })).stdout;
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`npm ${args.join(' ')} failed in ${cwd}:\n${stdout ?? ''}${stderr ?? ''}`);
  }
}

async function packAndInstall(): Promise<void> {
  const pkg = join(work, 'package');
  cpSync(SDK, pkg, {
    recursive: true,
    filter: (source) => ![join(SDK, 'node_modules'), join(SDK, 'dist')].includes(source),
  });
  symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'), 'dir');
  [packed] = JSON.parse(await npm(['pack', '--json', '--pack-destination', work], pkg));

  consumer = join(work, 'consumer');
  mkdirSync(consumer);
  writeFileSync(
    join(consumer, 'package.json'),
    '{ "name": "sdk-consumer", "version": "0.0.0", "private": true }\n',
  );
  // No runtime dependencies (kafkajs is an optional peer), so the tarball installs without the registry.
  await npm(['install', '--no-audit', '--no-fund', '--offline', join(work, packed.filename)], consumer);
}

/** Runs a script in the consumer project the way a user does: its own process, configured by environment. */
async function node(args: string[]): Promise<string[]> {
  try {
    const { stdout } = await run(process.execPath, args, {
      cwd: consumer,
      env: { ...npmEnv(), THOTH_API_URL: thoth.url, THOTH_API_KEY: thoth.agentKey, NODE_OPTIONS: '' },
      timeout: 30_000,
    });
    return stdout.trim().split('\n');
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`node ${args.join(' ')} failed:\n${stdout ?? ''}${stderr ?? ''}`);
  }
}

function expectQuickstart(lines: string[]): void {
  expect(lines[0]).toBe('Found 3 docs matching: quarterly report'); // ALLOW: the tool ran
  expect(lines[1]).toMatch(/^Blocked: .*submit_payment.*not in the approved scope/); // BLOCK
  expect(lines[2]).toMatch(/^Violation ID: \w{10,}$/);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'thoth-sdk-pack-'));
  [thoth] = await Promise.all([startEmbeddedThoth('rules: []\n'), packAndInstall()]);
});

afterAll(async () => {
  await thoth?.dispose();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('@thoth/sdk from its npm tarball', () => {
  it('ships compiled ESM and CommonJS with declarations, and exports them', () => {
    const files = packed.files.map((file) => file.path);
    for (const format of ['esm', 'cjs']) {
      expect(files).toContain(`dist/${format}/index.js`);
      expect(files).toContain(`dist/${format}/index.d.ts`);
    }
    expect(files).toContain('dist/cjs/package.json');
    expect(files.filter((file) => file.startsWith('src/') || /\.test\./.test(file))).toEqual([]);

    const manifest = JSON.parse(readFileSync(join(consumer, 'node_modules/@thoth/sdk/package.json'), 'utf8'));
    expect(manifest.exports['.'].import).toEqual({
      types: './dist/esm/index.d.ts',
      default: './dist/esm/index.js',
    });
    expect(manifest.exports['.'].require).toEqual({
      types: './dist/cjs/index.d.ts',
      default: './dist/cjs/index.js',
    });
    expect(manifest.dependencies).toBeUndefined();
    expect(manifest.peerDependenciesMeta).toEqual({ kafkajs: { optional: true } });
  });

  it('ESM: the README quickstart (examples/quickstart.ts, types stripped) allows and blocks', async () => {
    const source = readFileSync(join(SDK, 'examples/quickstart.ts'), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    expect(outputText).toContain("from '@thoth/sdk'");
    writeFileSync(
      join(consumer, 'quickstart.mjs'),
      `${outputText}\nconsole.log(\`resolved: \${import.meta.resolve('@thoth/sdk')}\`);\n`,
    );
    const lines = await node(['quickstart.mjs']);
    expectQuickstart(lines);
    expect(lines[3]).toMatch(/^resolved: file:\/\//);
    expect(lines[3]).toContain(`/node_modules/@thoth/sdk/dist/esm/index.js`);
  });

  it('CommonJS: require("@thoth/sdk") allows and blocks', async () => {
    writeFileSync(
      join(consumer, 'quickstart.cjs'),
      `const { instrument, ThothPolicyViolation } = require('@thoth/sdk');

const agent = instrument(
  {
    tools: [
      { name: 'search_docs', run: async (query) => \`Found 3 docs matching: \${query}\` },
      { name: 'submit_payment', run: async (invoiceId, amount) => \`Paid \${amount} on \${invoiceId}\` },
    ],
  },
  {
    agentId: 'invoice-processor-v2',
    approvedScope: ['search_docs'],
    tenantId: 'acme-corp',
    apiUrl: process.env.THOTH_API_URL,
    enforcement: 'progressive',
  },
);

(async () => {
  console.log(await agent.tools[0].run('quarterly report'));
  try {
    await agent.tools[1].run('INV-001', 1500);
    console.log('submit_payment ran');
  } catch (error) {
    if (!(error instanceof ThothPolicyViolation)) throw error;
    console.log(\`Blocked: \${error.reason}\`);
    console.log(\`Violation ID: \${error.violationId}\`);
  }
  console.log(\`resolved: \${require.resolve('@thoth/sdk')}\`);
})();
`,
    );
    const lines = await node(['quickstart.cjs']);
    expectQuickstart(lines);
    expect(lines[3]).toBe(`resolved: ${join(consumer, 'node_modules/@thoth/sdk/dist/cjs/index.js')}`);
  });

  it('TypeScript (nodenext): import and require resolve to the shipped declarations', async () => {
    const use = (sdk: string) => `const agent = ${sdk}instrument(
  { tools: [{ name: 'search_docs', run: async (query: string) => query.length }] },
  { agentId: 'a', tenantId: 't', approvedScope: ['search_docs'] },
);
export const result: Promise<number> = agent.tools[0]!.run('q');
// @ts-expect-error agentId is a string: the declarations are typed, not any.
${sdk}instrument({ tools: [] }, { agentId: 1, tenantId: 't' });
`;
    writeFileSync(
      join(consumer, 'consumer.mts'),
      `import { instrument, ThothPolicyViolation, type ThothOptions } from '@thoth/sdk';\n${use('')}` +
        `export const options: ThothOptions = { agentId: 'a', tenantId: 't' };\nexport { ThothPolicyViolation };\n`,
    );
    writeFileSync(join(consumer, 'consumer.cts'), `import thoth = require('@thoth/sdk');\n${use('thoth.')}`);
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          strict: true,
          noEmit: true,
          // The SDK's own declarations are checked too, and need no @types/node.
          skipLibCheck: false,
          types: [],
        },
        files: ['consumer.mts', 'consumer.cts'],
      }),
    );
    let listed: string;
    try {
      listed = (await run(process.execPath, [TSC, '-p', consumer, '--listFiles'], { cwd: consumer })).stdout;
    } catch (error) {
      throw new Error(`tsc in the consumer project failed:\n${(error as { stdout?: string }).stdout}`);
    }
    const sdkFiles = listed.split('\n').filter((file) => file.includes('/node_modules/@thoth/sdk/'));
    expect(sdkFiles.some((file) => file.endsWith('/@thoth/sdk/dist/esm/index.d.ts'))).toBe(true);
    expect(sdkFiles.some((file) => file.endsWith('/@thoth/sdk/dist/cjs/index.d.ts'))).toBe(true);
    expect(sdkFiles.every((file) => /\/@thoth\/sdk\/dist\/(esm|cjs)\/.*\.d\.ts$/.test(file))).toBe(true);
  });
});
