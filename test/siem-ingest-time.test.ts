import { dlqTopic } from '@thoth/contracts';
import type { IncomingMessage } from '@thoth/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { behavioralEvent } from './fixtures.ts';
import { waitFor } from './helpers.ts';
import { startTrailApi, type TrailApi } from './trail-harness.ts';

/**
 * Event times every export format and the audit trail can carry: 1970-01-01 … 9999-12-31 (issue #20). Ingest
 * refuses others with a 400 naming the field; an event outside them that reaches the events topic another way (an
 * SDK's Kafka transport) goes to the DLQ from the audit writer instead of stalling its partition.
 */
const LAST_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

let api: TrailApi;

beforeAll(async () => {
  api = await startTrailApi();
}, 60_000);

afterAll(async () => {
  await api?.close();
});

async function ingest(occurredAt: unknown) {
  return api.inject({
    method: 'POST',
    url: '/v1/events/batch',
    headers: { authorization: `Bearer ${api.key}` },
    payload: [
      {
        tenant_id: 'acme-corp',
        agent_id: 'time-bounds',
        session_id: 's1',
        event_type: 'TOOL_CALL_PRE',
        tool_name: 'search_docs',
        occurred_at: occurredAt,
      },
    ],
  });
}

async function storedTimes(agentId: string): Promise<Array<{ event_id: string; ms: number }>> {
  const rows = await api.store.select<{ event_id: string; ms: number | string }>(
    `SELECT event_id, toUnixTimestamp64Milli(occurred_at) AS ms FROM events
     WHERE tenant_id = 'acme-corp' AND agent_id = {agent:String} ORDER BY event_id`,
    { agent: agentId },
  );
  return rows.map((r) => ({ event_id: r.event_id, ms: Number(r.ms) }));
}

describe('event times: 1970-01-01 … 9999-12-31', () => {
  it.each([
    ['year 10000', '+010000-01-01T00:00:00.000Z'],
    ['a negative year', '-000001-01-01T00:00:00.000Z'],
    ['before 1970', '1969-12-31T23:59:59.999Z'],
    ['epoch ms past 9999', LAST_MS + 1],
    ['Date’s largest value', 8.64e15],
    ['negative epoch seconds', -5],
  ])('ingest refuses %s with a 400 naming occurred_at', async (_name, value) => {
    const response = await ingest(value);
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: 'invalid_events' });
    expect(response.json().message).toMatch(/occurred_at/);
    expect(response.json().rejected[0]).toMatchObject({ field: 'occurred_at' });
  });

  it.each([
    ['the first millisecond of 1970', '1970-01-01T00:00:00.000Z'],
    ['the last millisecond of 9999', '9999-12-31T23:59:59.999Z'],
    ['epoch 0', 0],
  ])('ingest accepts %s', async (_name, value) => {
    expect((await ingest(value)).statusCode).toBe(202);
  });

  it('the audit writer sends an unstorable time to the DLQ without stalling the partition', async () => {
    const agent = 'direct-kafka-agent';
    const event = (id: string, occurredAt: number) =>
      behavioralEvent({ event_id: id, tenant_id: 'acme-corp', agent_id: agent, occurred_at: occurredAt });
    // Same agent, so the same partition, in this order: the poison one sits between the others.
    const now = Date.now();
    await api.publishDirect(event('t-before', now - 1_000));
    await api.publishDirect(event('t-year-10000', Date.UTC(10_000, 0, 1)));
    await api.publishDirect(event('t-after', now));
    await waitFor(
      'the events around the poison one stored',
      async () => (await storedTimes(agent)).length >= 2,
      20_000,
    );
    expect((await storedTimes(agent)).map((r) => r.event_id)).toEqual(['t-after', 't-before']);

    const dead: IncomingMessage[] = [];
    const reader = await api.bus.subscribe({
      group: `${api.topics.events}.time-dlq-reader`,
      topics: [dlqTopic(api.topics.events)],
      fromBeginning: true,
      handler: async (batch) => void dead.push(...batch.messages),
    });
    await waitFor('the unstorable event on the DLQ', () =>
      dead.some((m) => m.headers['thoth-dlq-group'] === `${api.topics.events}.audit-writer`),
    );
    await reader.stop();
    const letter = dead.find((m) => m.headers['thoth-dlq-group'] === `${api.topics.events}.audit-writer`)!;
    expect(letter.headers['thoth-dlq-reason']).toMatch(/occurred_at .*10000.* outside 1970-01-01/);
  }, 30_000);

  it('stores every accepted time: retention counts from when a row was stored, not from the time it claims', async () => {
    const agent = 'backlog-agent';
    const times = {
      't-1970': Date.UTC(1970, 0, 1),
      't-2020': Date.UTC(2020, 5, 1),
      't-2106': Date.UTC(2106, 5, 1),
      't-5000': Date.UTC(5000, 0, 1),
      't-9999': Date.UTC(9999, 11, 31, 23, 59, 59, 999),
    };
    for (const [id, at] of Object.entries(times))
      await api.publishDirect(
        behavioralEvent({ event_id: id, tenant_id: 'acme-corp', agent_id: agent, occurred_at: at }),
      );
    await waitFor('every time stored', async () => (await storedTimes(agent)).length >= 5, 20_000);
    expect((await storedTimes(agent)).map((r) => r.event_id).sort()).toEqual(Object.keys(times).sort());
  }, 30_000);
});
