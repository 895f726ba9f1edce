import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApprovalNotifier } from '../services/notifier/src/approval-notifier.ts';
import { verifySignature } from '../services/notifier/src/webhook.ts';
import { enforceBody, startTestApi, type TestApi } from './api-harness.ts';
import { quietLog, waitFor } from './helpers.ts';

const SECRET = 'webhook-secret-0123456789';
const POLICY = {
  rules: [
    {
      id: 'approve-wire',
      condition: 'tool == "wire_transfer"',
      effect: 'STEP_UP',
      reason: 'wires need approval',
    },
  ],
};

interface Received {
  id: string;
  type: string;
  signatureValid: boolean;
}

/** A receiver that verifies every signature; `failNext` answers 503 that many times (an outage). */
function receiver() {
  const received: Received[] = [];
  let failNext = 0;
  let attempts = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      attempts++;
      if (failNext > 0) {
        failNext--;
        res.writeHead(503).end();
        return;
      }
      const valid = verifySignature(
        SECRET,
        body,
        req.headers['x-thoth-signature'] as string,
        Math.floor(Date.now() / 1_000),
      );
      const parsed = JSON.parse(body) as { id: string; type: string };
      received.push({ id: parsed.id, type: parsed.type, signatureValid: valid });
      res.writeHead(valid ? 200 : 401).end();
    });
  });
  return {
    server,
    received,
    attempts: () => attempts,
    outage: (n: number) => {
      failNext = n;
    },
  };
}

let api: TestApi;
let sink: ReturnType<typeof receiver>;
let notifier: ApprovalNotifier;

beforeAll(async () => {
  api = await startTestApi({ policy: POLICY });
  sink = receiver();
  await new Promise<void>((r) => sink.server.listen(0, '127.0.0.1', r));
  const { port } = sink.server.address() as AddressInfo;
  notifier = new ApprovalNotifier({
    bus: api.bus,
    codec: api.codec,
    eventsTopic: api.topics.events,
    log: quietLog,
    url: `http://127.0.0.1:${port}/hooks/thoth`,
    secret: SECRET,
    format: 'json',
    maxAttempts: 8,
    backoffMs: 50,
  });
  await notifier.start();
});
afterAll(async () => {
  await notifier.stop();
  await api.close();
  await new Promise((r) => sink.server.close(r));
});

async function stepUp(): Promise<string> {
  const r = await api.inject({
    method: 'POST',
    url: '/v1/enforce',
    headers: { 'x-api-key': api.key },
    payload: enforceBody({ tool_name: 'wire_transfer', approved_scope: [] }),
  });
  return (r.json() as { violation_id: string }).violation_id;
}

describe('approval webhooks', () => {
  it('announces a new pending approval and its resolution, signed', async () => {
    const violation = await stepUp();
    const pending = api.service.holds
      .list('acme-corp', 'pending', 1, 100)
      .data.find((h) => h.violation_id === violation)!;
    await waitFor('the requested webhook', () =>
      sink.received.some((r) => r.id === `${pending.approval_id}:pending`),
    );
    await api.service.holds.resolve(pending.token, 'approved', 'alice', null);
    await waitFor('the approved webhook', () =>
      sink.received.some((r) => r.id === `${pending.approval_id}:approved`),
    );
    const mine = sink.received.filter((r) => r.id.startsWith(pending.approval_id));
    expect(mine.map((r) => r.type)).toEqual(['approval.requested', 'approval.approved']);
    expect(mine.every((r) => r.signatureValid)).toBe(true);
  });

  it('announces what the trail holds: a resolution that lost a race on the approvals topic is not announced', async () => {
    const violation = await stepUp();
    const pending = api.service.holds
      .list('acme-corp', 'pending', 1, 100)
      .data.find((h) => h.violation_id === violation)!;
    await waitFor('the requested webhook', () =>
      sink.received.some((r) => r.id === `${pending.approval_id}:pending`),
    );
    await api.service.holds.resolve(pending.token, 'approved', 'alice', null);
    // Another replica's denial, published at the same moment, reaches the approvals topic after the approval:
    // it lost (the first resolution wins, hold-registry.ts), so no replica writes it to the trail.
    await api.bus.publish(api.topics.approvals, [
      api.codec.encode('thoth.v1.Hold', pending.token, {
        ...pending,
        status: 'denied',
        resolved_by: 'bob',
        resolved_at: Date.now(),
      }),
    ]);
    await waitFor('the approved webhook', () =>
      sink.received.some((r) => r.id === `${pending.approval_id}:approved`),
    );
    await new Promise((r) => setTimeout(r, 300));
    const mine = sink.received.filter((r) => r.id.startsWith(pending.approval_id));
    expect(mine.map((r) => r.type)).toEqual(['approval.requested', 'approval.approved']);
  });

  it('retries through a receiver outage with backoff and loses nothing', async () => {
    sink.outage(4);
    const before = sink.attempts();
    const violation = await stepUp();
    const pending = api.service.holds
      .list('acme-corp', 'pending', 1, 100)
      .data.find((h) => h.violation_id === violation)!;
    await api.service.holds.resolve(pending.token, 'denied', 'bob', 'no');
    await waitFor('both webhooks after the outage', () =>
      ['pending', 'denied'].every((s) => sink.received.some((r) => r.id === `${pending.approval_id}:${s}`)),
    );
    expect(sink.attempts() - before).toBeGreaterThanOrEqual(6); // 4 refused + 2 delivered
    expect(notifier.failedAttempts).toBeGreaterThanOrEqual(4);
    const mine = sink.received.filter((r) => r.id.startsWith(pending.approval_id));
    expect(mine.map((r) => r.type)).toEqual(['approval.requested', 'approval.denied']);
    expect(mine.every((r) => r.signatureValid)).toBe(true);
  });

  it('never delays enforcement while the receiver is down', async () => {
    sink.outage(1_000);
    const started = Date.now();
    for (let i = 0; i < 20; i++) await stepUp();
    expect(Date.now() - started).toBeLessThan(2_000);
    sink.outage(0);
  });
});
