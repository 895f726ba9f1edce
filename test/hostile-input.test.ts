import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enforceBody, startTestApi, type TestApi } from './api-harness.ts';
import { watchEventLoop } from './stall-guard.ts';

/**
 * Hostile input, as an attacker would send it, with and without a key: every answer is a clear 4xx (or the
 * ordinary answer) and the server's event loop is never held longer than STALL_BUDGET_MS. The server runs in
 * this process (`inject`), so a stall of the server is a stall the guard sees.
 */
const STALL_BUDGET_MS = 100;

let api: TestApi;
let emailsApi: TestApi;

beforeAll(async () => {
  api = await startTestApi();
  // The opt-in `emails` group too: its pattern sees request data like the default ones.
  emailsApi = await startTestApi({
    env: { THOTH_REDACT_PATTERNS: 'api_keys,bearer_tokens,card_numbers,private_keys,secret_fields,emails' },
  });
});
afterAll(async () => {
  await api?.close();
  await emailsApi?.close();
});

/** Sends one request under the stall guard; returns the answer and how long the loop was held at most. */
async function guarded(
  target: TestApi,
  request: { method: 'POST' | 'GET'; url: string; payload?: string; key?: string },
): Promise<{ statusCode: number; body: string; heldMs: number }> {
  const guard = watchEventLoop(STALL_BUDGET_MS);
  try {
    const response = await target.inject({
      method: request.method,
      url: request.url,
      payload: request.payload,
      headers: {
        'content-type': 'application/json',
        ...(request.key ? { authorization: `Bearer ${request.key}` } : {}),
      },
    });
    // A tick for the work the answer left behind (decision events, publishing) to run under the guard too.
    await new Promise((r) => setTimeout(r, 20));
    const heldMs = guard.check(`${request.method} ${request.url}`);
    return { statusCode: response.statusCode, body: response.body, heldMs };
  } finally {
    guard.stop();
  }
}

describe('hostile input never holds the event loop', () => {
  it('a body of huge digit runs, without a key: 4xx before authentication, fast', async () => {
    // ≈ 4.8 MB of 308-digit numbers (finite, so JSON.parse accepts them): the old pre-parse check backtracked
    // about 308 steps per digit of them.
    const run = '9'.repeat(308);
    const payload = `[${Array.from({ length: 15_500 }, () => run).join(',')}]`;
    expect(payload.length).toBeGreaterThan(4_700_000);
    const answer = await guarded(api, { method: 'POST', url: '/v1/enforce', payload });
    expect(answer.statusCode).toBeGreaterThanOrEqual(400);
    expect(answer.statusCode).toBeLessThan(500);
  });

  it('4.5 MB of empty objects, without a key: 413 before it is parsed', async () => {
    const payload = `[${'{},'.repeat(1_500_000)}{}]`;
    const answer = await guarded(api, { method: 'POST', url: '/v1/events/batch', payload });
    expect(answer.statusCode).toBe(413);
    expect(answer.body).toMatch(/more than 250000 values/);
  });

  it('a number that overflows through its mantissa: 400, not a 500 further on', async () => {
    const payload = `{"agent_id":"a","tool_args":{"n":${'9'.repeat(250)}e60}}`;
    const answer = await guarded(api, { method: 'POST', url: '/v1/enforce', payload, key: api.key });
    expect(answer.statusCode).toBe(400);
    expect(answer.body).toMatch(/too large to represent/);
  });

  it('tool arguments built against the jwt pattern are redacted in linear time', async () => {
    const payload = JSON.stringify(enforceBody({ tool_args: { q: '-eyJaaaaa'.repeat(20_000) } }));
    const answer = await guarded(api, { method: 'POST', url: '/v1/enforce', payload, key: api.key });
    expect(answer.statusCode).toBe(200);
  });

  it('a 40 KB run without @ under the emails group', async () => {
    const payload = JSON.stringify(enforceBody({ tool_args: { q: 'a.'.repeat(20_000) } }));
    const answer = await guarded(emailsApi, {
      method: 'POST',
      url: '/v1/enforce',
      payload,
      key: emailsApi.key,
    });
    expect(answer.statusCode).toBe(200);
  });

  it('a body of 250,000 keys: 413 before it is parsed', async () => {
    const args: Record<string, number> = {};
    for (let i = 0; i < 250_000; i++) args[`k${i}`] = i;
    const payload = JSON.stringify(enforceBody({ tool_args: args }));
    const answer = await guarded(api, { method: 'POST', url: '/v1/enforce', payload, key: api.key });
    expect(answer.statusCode).toBe(413);
    expect(answer.body).toMatch(/more than 100000 object members/);
  });

  it('tool arguments over the budget: 400 naming the field and the limit', async () => {
    const args: Record<string, number> = {};
    for (let i = 0; i < 25_000; i++) args[`k${i}`] = i;
    const payload = JSON.stringify(enforceBody({ tool_args: args }));
    const answer = await guarded(api, { method: 'POST', url: '/v1/enforce', payload, key: api.key });
    expect(answer.statusCode).toBe(400);
    expect(answer.body).toMatch(/tool_args.*more than 20000 values/);

    const long = JSON.stringify(
      enforceBody({ tool_args: { list: Array.from({ length: 20_000 }, () => 1) } }),
    );
    const tooLong = await guarded(api, { method: 'POST', url: '/v1/enforce', payload: long, key: api.key });
    expect(tooLong.statusCode).toBe(400);
    expect(tooLong.body).toMatch(/tool_args.*array of 20000 items is over the limit of 10000/);
  });

  it('tool arguments at the budget are decided, fast', async () => {
    const args: Record<string, string> = {};
    for (let i = 0; i < 19_000; i++) args[`key_${i}`] = `value ${i}`;
    const payload = JSON.stringify(enforceBody({ tool_args: args }));
    const answer = await guarded(api, { method: 'POST', url: '/v1/enforce', payload, key: api.key });
    expect(answer.statusCode).toBe(200);
  });

  it('an ingest over the events limit: 413 naming it, without parsing each event', async () => {
    const event = { agent_id: 'a', session_id: 's', event_type: 'TOOL_CALL_PRE', tool_name: 't' };
    const over = JSON.stringify(Array.from({ length: 6_000 }, () => event));
    const answer = await guarded(api, {
      method: 'POST',
      url: '/v1/events/batch',
      payload: over,
      key: api.key,
    });
    expect(answer.statusCode).toBe(413);
    expect(answer.body).toMatch(/at most 5000 events/);
    // The probe's 60,000 events (4.6 MB) hold more keys than a body may: refused before they are parsed.
    const probe = JSON.stringify(Array.from({ length: 60_000 }, () => event));
    const refused = await guarded(api, {
      method: 'POST',
      url: '/v1/events/batch',
      payload: probe,
      key: api.key,
    });
    expect(refused.statusCode).toBe(413);
  });

  it('an ingest at the events limit is accepted while the loop keeps turning', async () => {
    const payload = JSON.stringify(
      Array.from({ length: 5_000 }, (_, i) => ({
        agent_id: `agent-${i % 10}`,
        session_id: 's',
        event_type: 'TOOL_CALL_POST',
        tool_name: 'search_docs',
        content: `result ${i} `.repeat(40),
        metadata: { args: ['quarterly report', i], kwargs: { limit: 10 } },
      })),
    );
    expect(payload.length).toBeGreaterThan(2_000_000);
    const answer = await guarded(api, { method: 'POST', url: '/v1/events/batch', payload, key: api.key });
    expect(answer.statusCode).toBe(202);
    expect(JSON.parse(answer.body).accepted).toBe(5_000);
  });

  it('deep nesting and non-finite numbers: 400 without a key', async () => {
    const deep = await guarded(api, {
      method: 'POST',
      url: '/v1/events/batch',
      payload: `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
    });
    expect(deep.statusCode).toBe(400);
    const huge = await guarded(api, { method: 'POST', url: '/v1/enforce', payload: '{"n":1e400}' });
    expect(huge.statusCode).toBe(400);
  });
});
