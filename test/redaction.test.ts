import type { BehavioralEvent, DecisionEvent } from '@thoth/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enforceBody } from './api-harness.ts';
import { behavioralEvent } from './fixtures.ts';
import { waitFor } from './helpers.ts';
import { startTrailApi, type TrailApi } from './trail-harness.ts';

/**
 * A tool call whose arguments carry a bearer token and a card number: neither reaches the bus (what the
 * audit writer stores and every SIEM export consumes), the audit trail, or the API's reads of it.
 */
const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJlLXZhbHVl';
const CARD = '4111 1111 1111 1111';
const SECRETS = [TOKEN, CARD, CARD.replaceAll(' ', '')];

let api: TrailApi;
beforeAll(async () => {
  api = await startTrailApi();
});
afterAll(async () => {
  await api?.close();
});

const headers = () => ({ authorization: `Bearer ${api.key}` });

describe('secret redaction before storage and export', () => {
  it('redacts a bearer token and a card number from enforce args and ingested events', async () => {
    const args = {
      kwargs: { auth_header: `Bearer ${TOKEN}`, card: CARD, amount: 1500, note: `pay with ${CARD}` },
    };
    const enforced = await api.inject({
      method: 'POST',
      url: '/v1/enforce',
      headers: headers(),
      payload: enforceBody({ agent_id: 'redaction-bot', session_id: 'redaction-s1', tool_args: args }),
    });
    expect(enforced.statusCode).toBe(200);
    const ingested = await api.inject({
      method: 'POST',
      url: '/v1/events/batch',
      headers: headers(),
      payload: [
        {
          event_id: 'acme-corp:redaction-1',
          agent_id: 'redaction-bot',
          session_id: 'redaction-s1',
          event_type: 'TOOL_CALL_PRE',
          tool_name: 'submit_payment',
          content: `calling with Authorization: Bearer ${TOKEN} and card ${CARD}`,
          metadata: { tool_call: { name: 'submit_payment', arguments: args }, tool_args: args },
        },
      ],
    });
    expect(ingested.statusCode).toBe(202);

    // The bus: what the audit writer and the SIEM exporters consume.
    await waitFor('both records on the bus', () => api.records().length >= 4);
    const onBus = api.records();
    const decision = onBus.find((d) => d.schema === 'thoth.v1.DecisionEvent')?.value as DecisionEvent;
    const event = onBus.find((d) => d.schema === 'thoth.v1.BehavioralEvent')?.value as BehavioralEvent;
    expect(JSON.parse(decision.tool_args_json!)).toEqual({
      kwargs: {
        auth_header: 'Bearer [REDACTED:bearer_token]',
        card: '[REDACTED:card_number]',
        amount: 1500,
        note: 'pay with [REDACTED:card_number]',
      },
    });
    expect(event.content).toBe(
      'calling with Authorization: Bearer [REDACTED:bearer_token] and card [REDACTED:card_number]',
    );
    for (const secret of SECRETS) expect(JSON.stringify(onBus)).not.toContain(secret);

    // The audit trail (chDB) and the API's reads of it.
    await waitFor('both rows stored', async () => {
      const [row] = await api.store.select<{ n: number | string }>(
        "SELECT count() AS n FROM events WHERE agent_id = 'redaction-bot'",
      );
      return Number(row?.n) === 2;
    });
    const stored = JSON.stringify(await api.store.select('SELECT * FROM events'));
    for (const secret of SECRETS) expect(stored).not.toContain(secret);
    expect(stored).toContain('[REDACTED:card_number]');
    const feed = await api.inject({
      method: 'GET',
      url: '/acme-corp/thoth/governance/feed?agent_id=redaction-bot',
      headers: headers(),
    });
    for (const secret of SECRETS) expect(feed.body).not.toContain(secret);
  });

  it('redacts an event that reached the bus without the API (an SDK Kafka transport) before storing it', async () => {
    await api.publishDirect(
      behavioralEvent({
        event_id: 'acme-corp:direct-1',
        tenant_id: 'acme-corp',
        agent_id: 'direct-bot',
        content: `Authorization: Bearer ${TOKEN}`,
        metadata_json: JSON.stringify({ tool_args: { card: CARD, amount: 12 } }),
      }),
    );
    await waitFor('the direct event stored', async () => {
      const [row] = await api.store.select<{ n: number | string }>(
        "SELECT count() AS n FROM events WHERE agent_id = 'direct-bot'",
      );
      return Number(row?.n) === 1;
    });
    const stored = JSON.stringify(
      await api.store.select("SELECT * FROM events WHERE agent_id = 'direct-bot'"),
    );
    for (const secret of SECRETS) expect(stored).not.toContain(secret);
    expect(stored).toContain('[REDACTED:bearer_token]');
    expect(stored).toContain('[REDACTED:card_number]');
  });
});
