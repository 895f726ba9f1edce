import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DECISION_META_KEY } from '../services/mcp-proxy/src/refusal-result.ts';
import { OUT_OF_SCOPE_NOTE } from '../services/mcp-proxy/src/tool-list-filter.ts';
import { waitFor } from './helpers.ts';
import {
  connectStdio,
  FILESYSTEM_SERVER,
  proxyArgs,
  type RunningThoth,
  resolveApproval,
  startThoth,
  textOf,
  trailOf,
} from './mcp-harness.ts';

/**
 * `thoth mcp proxy -- <server>` over stdio, driven by the official MCP SDK client, in front of the real
 * @modelcontextprotocol/server-filesystem, against a running Thoth whose trail is read back from chDB.
 */

const files = realpathSync(mkdtempSync(join(tmpdir(), 'thoth-mcp-fs-')));
const SCOPE = 'read_text_file,write_file,list_directory,tool_call:list_allowed_directories';
const policy = {
  version: 1,
  rules: [
    {
      id: 'no-etc-writes',
      condition: `tool == "write_file" && args.path.startsWith("${files}/etc")`,
      effect: 'BLOCK',
      reason: 'writes under etc/ are forbidden',
      reason_code: 'forbidden_path',
    },
    {
      id: 'redact-env-files',
      condition: 'tool == "write_file" && args.path.endsWith(".env")',
      effect: 'MODIFY',
      reason: 'secrets are not written to .env files',
      modify: { set: { content: 'REDACTED' } },
    },
    {
      id: 'approve-listing',
      condition: 'tool == "list_directory"',
      effect: 'STEP_UP',
      reason: 'listing needs approval',
    },
  ],
};

let thoth: RunningThoth;
let key: string;
const server = ['--', process.execPath, FILESYSTEM_SERVER, files];

beforeAll(async () => {
  mkdirSync(join(files, 'etc'));
  writeFileSync(join(files, 'hello.txt'), 'hello from the server');
  thoth = await startThoth(policy);
  key = thoth.api.key;
});

afterAll(async () => {
  await thoth?.close();
  rmSync(files, { recursive: true, force: true });
});

describe('thoth mcp proxy (stdio) in front of server-filesystem', () => {
  it('filters tools/list per --list-filter: hide, annotate, none', async () => {
    const listed = await Promise.all(
      ['hide', 'annotate', 'none'].map(async (mode) => {
        const proxy = await connectStdio(
          proxyArgs({ url: thoth.url, key }, `fs-list-${mode}`, [
            '--approved-scope',
            SCOPE,
            '--list-filter',
            mode,
            ...server,
          ]),
          { apiKey: key },
        );
        const { tools } = await proxy.client.listTools();
        await proxy.close();
        return tools;
      }),
    );
    const [hidden = [], annotated = [], untouched = []] = listed;
    expect(hidden.map((tool) => tool.name).sort()).toEqual([
      'list_allowed_directories',
      'list_directory',
      'read_text_file',
      'write_file',
    ]);
    expect(annotated.length).toBe(untouched.length);
    expect(untouched.length).toBeGreaterThan(10);
    const createDir = annotated.find((tool) => tool.name === 'create_directory');
    expect(createDir?.description?.startsWith(OUT_OF_SCOPE_NOTE)).toBe(true);
    expect(annotated.find((tool) => tool.name === 'read_text_file')?.description).not.toContain(
      OUT_OF_SCOPE_NOTE,
    );
    expect(untouched.find((tool) => tool.name === 'create_directory')?.description).not.toContain(
      OUT_OF_SCOPE_NOTE,
    );
  });

  it('decides every call: in scope, out of scope, argument rules, MODIFY, STEP_UP; the trail holds each call', async () => {
    const session = `mcp-stdio-${Date.now()}`;
    const proxy = await connectStdio(
      proxyArgs({ url: thoth.url, key }, 'fs-agent', [
        '--approved-scope',
        SCOPE,
        '--session-id',
        session,
        ...server,
      ]),
      { apiKey: key },
    );
    const { client } = proxy;

    // In scope: the server's own result.
    const read = await client.callTool({
      name: 'read_text_file',
      arguments: { path: join(files, 'hello.txt') },
    });
    expect(read.isError).toBeFalsy();
    expect(textOf(read)).toBe('hello from the server');

    // An argument rule: allowed outside etc/, blocked under it (and the file never written).
    const allowed = await client.callTool({
      name: 'write_file',
      arguments: { path: join(files, 'notes.txt'), content: 'ok' },
    });
    expect(allowed.isError).toBeFalsy();
    expect(readFileSync(join(files, 'notes.txt'), 'utf8')).toBe('ok');

    // MODIFY: the server writes what Thoth rewrote.
    const modified = await client.callTool({
      name: 'write_file',
      arguments: { path: join(files, 'app.env'), content: 'PASSWORD=hunter2' },
    });
    expect(modified.isError).toBeFalsy();
    expect(readFileSync(join(files, 'app.env'), 'utf8')).toBe('REDACTED');

    // STEP_UP: held until a person approves it through the approvals API; progress keeps the client waiting.
    const progress: number[] = [];
    const held = client.callTool({ name: 'list_directory', arguments: { path: files } }, undefined, {
      onprogress: (note) => progress.push(note.progress),
    });
    await resolveApproval(thoth, 'list_directory', 'approve');
    const listing = await held;
    expect(listing.isError).toBeFalsy();
    expect(textOf(listing)).toContain('hello.txt');
    expect(progress.length).toBeGreaterThan(0);

    const blocked = await client.callTool({
      name: 'write_file',
      arguments: { path: join(files, 'etc/passwd'), content: 'x' },
    });
    expect(blocked.isError).toBe(true);
    expect(existsSync(join(files, 'etc/passwd'))).toBe(false);
    const decision = (blocked._meta as Record<string, Record<string, unknown>>)[DECISION_META_KEY];
    expect(decision).toMatchObject({ decision: 'BLOCK', reason_code: 'forbidden_path' });
    expect(decision?.violation_id).toMatch(/.+/);
    expect(textOf(blocked)).toContain(String(decision?.violation_id));

    // Out of scope: refused with a violation id, and the server never ran it.
    const outside = await client.callTool({
      name: 'create_directory',
      arguments: { path: join(files, 'made-by-model') },
    });
    expect(outside.isError).toBe(true);
    expect(textOf(outside)).toMatch(/not in the approved scope.*violation \w+/);
    expect(existsSync(join(files, 'made-by-model'))).toBe(false);
    await proxy.close();

    // The trail: PRE, the decision and POST for each call that ran; PRE, the decision and BLOCK for the others.
    const expected: Record<string, string[]> = {
      read_text_file: ['TOOL_CALL_PRE', 'DECISION', 'TOOL_CALL_POST'],
      list_directory: [
        'TOOL_CALL_PRE',
        'DECISION',
        'APPROVAL_REQUESTED',
        'APPROVAL_APPROVED',
        'TOOL_CALL_POST',
      ],
      create_directory: ['TOOL_CALL_PRE', 'DECISION', 'TOOL_CALL_BLOCK'],
    };
    await waitFor(
      'the trail of every call',
      async () => {
        const rows = await trailOf(thoth, session);
        const count = (type: string) => rows.filter((row) => row.event_type === type).length;
        return count('TOOL_CALL_POST') === 4 && count('TOOL_CALL_BLOCK') === 2 && count('DECISION') === 6;
      },
      15_000,
    );
    const rows = await trailOf(thoth, session);
    for (const [tool, types] of Object.entries(expected))
      expect(
        rows
          .filter((row) => row.tool_name === tool)
          .map((row) => row.event_type)
          .sort(),
      ).toEqual([...types].sort());
    const writes = rows.filter((row) => row.tool_name === 'write_file');
    expect(
      writes
        .filter((row) => row.event_type === 'DECISION')
        .map((row) => row.decision)
        .sort(),
    ).toEqual(['ALLOW', 'BLOCK', 'MODIFY']);
    // One trace id ties a call's PRE, decision and POST together.
    const readRows = rows.filter((row) => row.tool_name === 'read_text_file');
    expect(new Set(readRows.map((row) => row.enforcement_trace_id)).size).toBe(1);
    const post = JSON.parse(readRows.find((row) => row.event_type === 'TOOL_CALL_POST')?.payload ?? '{}');
    expect(JSON.stringify(post)).toMatch(/result_size_bytes/);
  });

  it('fails open when Thoth is unreachable, and blocks with --fail-closed', async () => {
    const down = { url: 'http://127.0.0.1:9', key };
    const open = await connectStdio(proxyArgs(down, 'fs-open', ['--approved-scope', SCOPE, ...server]), {
      apiKey: key,
    });
    const ran = await open.client.callTool({
      name: 'read_text_file',
      arguments: { path: join(files, 'hello.txt') },
    });
    await open.close();
    expect(textOf(ran)).toBe('hello from the server');
    expect(open.stderr()).toContain('failing open');

    const closed = await connectStdio(proxyArgs(down, 'fs-closed', ['--fail-closed', ...server]), {
      apiKey: key,
    });
    const refused = await closed.client.callTool({
      name: 'write_file',
      arguments: { path: join(files, 'closed.txt'), content: 'x' },
    });
    await closed.close();
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toContain('enforcer_unavailable');
    expect(existsSync(join(files, 'closed.txt'))).toBe(false);
  });
});
