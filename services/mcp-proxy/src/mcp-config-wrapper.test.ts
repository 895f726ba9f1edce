import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BACKUP_SUFFIX, runMcpCommand } from './mcp-command.ts';
import { unwrapConfig, wrapConfig } from './mcp-config-wrapper.ts';

const config = {
  globalShortcut: 'Ctrl+Space',
  mcpServers: {
    filesystem: {
      command: 'npx',
      args: ['-y', '@modelcontextprotocol/server-filesystem', '/home/me'],
      env: { DEBUG: '1' },
    },
    remote: { type: 'http', url: 'https://mcp.example.com/mcp' },
  },
};
const settings = {
  proxyCommand: ['/usr/bin/node', '/opt/thoth/bin/thoth.mjs'] as [string, string],
  proxyFlags: ['--enforcement', 'step_up'],
  env: { THOTH_API_KEY: 'thoth_live_x' },
};

describe('wrapConfig / unwrapConfig', () => {
  it('routes each stdio server through the proxy, agent id = server name, and back', () => {
    const report = wrapConfig(config, settings);
    expect(report.wrapped).toEqual(['filesystem']);
    expect(report.skipped.map((s) => s.name)).toEqual(['remote']);
    expect(report.config.globalShortcut).toBe('Ctrl+Space');
    expect((report.config.mcpServers as Record<string, unknown>).filesystem).toEqual({
      command: '/usr/bin/node',
      args: [
        '/opt/thoth/bin/thoth.mjs',
        'mcp',
        'proxy',
        '--agent-id',
        'filesystem',
        '--enforcement',
        'step_up',
        '--',
        'npx',
        '-y',
        '@modelcontextprotocol/server-filesystem',
        '/home/me',
      ],
      env: { DEBUG: '1', THOTH_API_KEY: 'thoth_live_x' },
    });
    expect(wrapConfig(report.config, settings).wrapped).toEqual([]);
    expect(unwrapConfig(report.config)).toEqual({ config, unwrapped: ['filesystem'] });
  });

  it('refuses a file that is not an MCP client config', () => {
    expect(() => wrapConfig({ servers: {} }, settings)).toThrow(/mcpServers/);
  });
});

describe('thoth mcp wrap-config / unwrap-config', () => {
  it('keeps a backup and restores it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'thoth-wrap-'));
    const file = join(dir, 'claude_desktop_config.json');
    const original = `${JSON.stringify(config, null, 2)}\n`;
    writeFileSync(file, original);
    const out: string[] = [];
    const io = {
      out: (t: string) => out.push(t),
      err: (t: string) => out.push(t),
      env: {},
      thothCommand: settings.proxyCommand,
    };
    expect(await runMcpCommand(['wrap-config', file, '--tenant', 'acme-corp'], io)).toBe(0);
    const wrapped = JSON.parse(readFileSync(file, 'utf8'));
    expect(wrapped.mcpServers.filesystem.env.THOTH_TENANT_ID).toBe('acme-corp');
    expect(readFileSync(file + BACKUP_SUFFIX, 'utf8')).toBe(original);
    expect(await runMcpCommand(['unwrap-config', file], io)).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(original);
    expect(await runMcpCommand(['wrap-config'], io)).toBe(2);
    rmSync(dir, { recursive: true, force: true });
  });
});
