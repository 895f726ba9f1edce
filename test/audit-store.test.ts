import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentChainKey } from '@thoth/contracts';
import { clickhouseTime, Store } from '@thoth/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storedState } from '../services/audit-writer/src/audit-store.ts';

let store: Store;
let dataDir: string;
const t0 = Date.UTC(2026, 10, 24, 12, 0, 0);
const row = (agent: string, id: string, at: number, index: number) => ({
  tenant_id: 'acme',
  agent_id: agent,
  occurred_at: clickhouseTime(at),
  ingested_at: clickhouseTime(at),
  event_id: id,
  kind: 'behavioral',
  chain_index: index,
  hash: `h-${id}`,
});

/** Events of this flush, of tenant acme (the trail's events are identified by tenant and event id). */
const acme = (...ids: string[]) => ids.map((id) => ({ tenant_id: 'acme', event_id: id }));

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'thoth-audit-store-'));
  store = await Store.open({ database: 'thoth', dataDir });
  await store.migrate();
  await store.insertRows('events', [
    row('a', 'e1', t0, 1),
    row('a', 'e2', t0 + 1_000, 2),
    row('a', 'e3', t0 + 2_000, 3),
    row('b', 'e-old', t0 - 3_600_000, 1),
    row('b', 'e-b', t0, 2),
  ]);
});
afterAll(async () => {
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('storedState: what the trail holds for a flush (chDB)', () => {
  it('a narrow flush: finds its stored ids among its agents’ rows in its span, and the chain heads', async () => {
    const state = await storedState(
      store,
      [{ tenantId: 'acme', agentId: 'a', fromMs: t0, toMs: t0 + 2_000 }],
      acme('e1', 'e3', 'e-new'),
    );
    // e2 is stored in the span but not in the flush: not reported.
    expect(['e1', 'e2', 'e3', 'e-new'].filter((id) => state.events.has('acme', id))).toEqual(['e1', 'e3']);
    expect(state.heads.get(agentChainKey('acme', 'a'))).toEqual({ chainIndex: 3, hash: 'h-e3' });
  });

  it('a wide flush (here an SDK that buffered for an hour): asks for its ids', async () => {
    const state = await storedState(
      store,
      [{ tenantId: 'acme', agentId: 'b', fromMs: t0 - 3_600_000, toMs: t0 + 60_000 }],
      acme('e-old', 'e-later'),
    );
    expect(['e-old', 'e-later'].filter((id) => state.events.has('acme', id))).toEqual(['e-old']);
    expect(state.heads.get(agentChainKey('acme', 'b'))).toEqual({ chainIndex: 2, hash: 'h-e-b' });
  });

  it('a known head is only checked for links stored past it', async () => {
    const known = new Map([[agentChainKey('acme', 'a'), { chainIndex: 3, hash: 'h-e3' }]]);
    const state = await storedState(
      store,
      [{ tenantId: 'acme', agentId: 'a', fromMs: t0 + 5_000, toMs: t0 + 6_000 }],
      acme('e-next'),
      known,
    );
    expect(state.events.empty).toBe(true);
    expect(state.heads.get(agentChainKey('acme', 'a'))).toEqual({ chainIndex: 3, hash: 'h-e3' });
  });
});
