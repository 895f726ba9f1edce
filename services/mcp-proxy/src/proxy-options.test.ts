import { describe, expect, it } from 'vitest';
import { normalizeScope, parseProxyArgs } from './proxy-options.ts';

const env = { THOTH_API_KEY: 'thoth_test_k', THOTH_TENANT_ID: 'acme-corp' };

describe('parseProxyArgs', () => {
  it('reads flags, then the environment, then defaults; the server command follows --', () => {
    const options = parseProxyArgs(
      [
        '--agent-id',
        'fs',
        '--approved-scope',
        'read_file, tool_call:write_file,,read_file',
        '--',
        'npx',
        '-y',
        'server',
        '--flag',
      ],
      { ...env, THOTH_ENFORCEMENT: 'step_up' },
    );
    expect(options).toMatchObject({
      agentId: 'fs',
      tenantId: 'acme-corp',
      approvedScope: ['read_file', 'write_file'],
      enforcement: 'step_up',
      listFilter: 'hide',
      failClosed: false,
      userId: 'system',
      transport: { kind: 'stdio', command: 'npx', args: ['-y', 'server', '--flag'] },
    });
    expect(options.apiUrl.href).toBe('http://127.0.0.1:8080/');
  });

  it('reads the HTTP transport', () => {
    const options = parseProxyArgs(
      [
        '--agent-id',
        'a',
        '--listen',
        '127.0.0.1:8931',
        '--upstream',
        'https://mcp.example.com/mcp',
        '--forward-auth',
      ],
      env,
    );
    expect(options.transport).toMatchObject({
      kind: 'http',
      listenHost: '127.0.0.1',
      listenPort: 8931,
      forwardAuth: true,
    });
  });

  it('refuses what it cannot run with, naming the option', () => {
    expect(() => parseProxyArgs(['--', 'x'], env)).toThrow(/--agent-id/);
    expect(() => parseProxyArgs(['--agent-id', 'a', '--', 'x'], { THOTH_TENANT_ID: 't' })).toThrow(
      /--api-key/,
    );
    expect(() => parseProxyArgs(['--agent-id', 'a', '--enforcement', 'lax', '--', 'x'], env)).toThrow(
      /--enforcement/,
    );
    expect(() => parseProxyArgs(['--agent-id', 'a', '--list-filter', 'x', '--', 'x'], env)).toThrow(
      /--list-filter/,
    );
    expect(() => parseProxyArgs(['--agent-id', 'a'], env)).toThrow(/no MCP server command/);
    expect(() => parseProxyArgs(['--agent-id', 'a', '--listen', '127.0.0.1:1'], env)).toThrow(/go together/);
    expect(() => parseProxyArgs(['--agent-id', 'a', '--bogus', '--', 'x'], env)).toThrow(/bogus/);
  });

  it('normalizes scopes as the server does', () => {
    expect(normalizeScope([' a ', 'tool_call:b', '', 'a'])).toEqual(['a', 'b']);
  });
});
