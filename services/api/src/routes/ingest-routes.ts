import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { BehavioralEvent } from '@thoth/contracts';
import {
  agentKey,
  errorResponse,
  errorResponses,
  ingestAcceptedSchema,
  ingestBodySchema,
  ingestInvalidSchema,
  MAX_EVENTS_PER_REQUEST,
} from '@thoth/contracts';
import type { AvroCodec, Bus, Logger, OutgoingMessage, Redactor } from '@thoth/platform';
import { REDACTED_HEADER } from '@thoth/platform';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { type Authenticator, assertSameTenant } from '../http/auth.ts';
import { HttpError } from '../http/http-error.ts';
import { eventsOf, normalizeBatch } from '../ingest/normalize-events.ts';

export interface IngestRouteDeps {
  auth: Authenticator;
  bus: Bus;
  codec: AvroCodec;
  eventsTopic: string;
  log: Logger;
  redactor: Redactor;
}

export const ingestRoutes =
  (deps: IngestRouteDeps): FastifyPluginAsyncZod =>
  async (app) => {
    app.post(
      '/v1/events/batch',
      {
        schema: {
          summary: 'Ingest behavioral events (bare array, {events} snake_case or {events} camelCase)',
          tags: ['data plane'],
          body: ingestBodySchema,
          response: {
            202: ingestAcceptedSchema.describe(
              'the valid events are on the event bus; each invalid one is listed',
            ),
            400: ingestInvalidSchema,
            ...errorResponses(401, 403, 415, 429, 500),
            413: errorResponse(
              `too_many_events: over ${MAX_EVENTS_PER_REQUEST} events (split the batch); body_too_large, ` +
                'payload_too_large: over the byte, member or value limits',
            ),
            503: errorResponse(
              'bus_unavailable: the event bus did not accept the events; nothing was accepted, send the ' +
                'batch again after Retry-After (5 s)',
            ),
          },
        },
        // The body schema documents the dialects; the handler validates each event alone (normalize-events.ts),
        // so that an invalid event is rejected by itself instead of refusing the batch.
        validatorCompiler: () => (body) => ({ value: body }),
      },
      async (request, reply) => {
        const identity = deps.auth.require(request, 'write');
        const body = eventsOf(request.body);
        if (!body.ok) throw new HttpError(400, 'invalid_request', body.message);
        if (body.events.length > MAX_EVENTS_PER_REQUEST)
          throw new HttpError(
            413,
            'too_many_events',
            `a batch holds at most ${MAX_EVENTS_PER_REQUEST} events (this one ${body.events.length}): send it in parts`,
          );
        const { events, rejected } = await normalizeInSlices(body.events, identity.tenantId, deps.redactor);
        // Checked on the normalized events: every dialect (tenantId, tenant_id, …) has become tenant_id by now.
        for (const e of events) assertSameTenant(identity, e.tenant_id, e.agent_id);
        if (events.length === 0 && rejected.length > 0) {
          const first = rejected[0]!;
          throw Object.assign(
            new HttpError(400, 'invalid_events', `event ${first.index}: ${first.field}: ${first.message}`),
            { rejected },
          );
        }
        const messages = await encodeInSlices(events, deps.codec);
        try {
          await deps.bus.publish(deps.eventsTopic, messages);
        } catch (error) {
          deps.log.error({ err: error }, 'ingest: the bus did not accept the events');
          throw new HttpError(
            503,
            'bus_unavailable',
            'events not accepted: the event bus is unavailable, retry later',
            {
              'retry-after': '5',
            },
          );
        }
        reply.code(202);
        return { accepted: events.length, rejected };
      },
    );
  };

/** Events normalized (validated, redacted) between two turns of the event loop: a few milliseconds' work. */
const EVENTS_PER_SLICE = 100;

/**
 * Normalizes a request's events a slice at a time, letting the event loop run between slices: a large batch
 * costs its time, but never holds an enforce decision behind it.
 */
async function normalizeInSlices(
  wire: readonly unknown[],
  tenantId: string,
  redactor: Redactor,
): Promise<ReturnType<typeof normalizeBatch>> {
  const all: ReturnType<typeof normalizeBatch> = { events: [], rejected: [] };
  const nowMs = Date.now();
  for (let start = 0; start < wire.length; start += EVENTS_PER_SLICE) {
    if (start > 0) await yieldToLoop();
    // The tenant is the key's: an event without one gets it, an event naming another is refused.
    const slice = wire.slice(start, start + EVENTS_PER_SLICE).map((e) => withTenant(e, tenantId));
    const { events, rejected } = normalizeBatch(slice, nowMs, redactor, start);
    all.events.push(...events);
    all.rejected.push(...rejected);
  }
  return all;
}

/** Events encoded between two turns of the event loop: a millisecond or two. */
const EVENTS_ENCODED_PER_SLICE = 250;

/**
 * Batch messages of the events, keyed by agent (as one event would be, so each agent's order holds), not one
 * message per event: the Kafka client's cost is per message. Encoded a slice at a time with the event loop free
 * in between (Avro encoding costs a few microseconds per event). Redacted by normalizeEvent: consumers need not
 * redact again (record-redaction.ts).
 */
async function encodeInSlices(
  events: readonly BehavioralEvent[],
  codec: AvroCodec,
): Promise<OutgoingMessage[]> {
  const messages: OutgoingMessage[] = [];
  // Events encoded since the loop last turned: many agents of a few events each share a slice.
  let encoded = 0;
  for (const [key, agentEvents] of byAgent(events))
    for (let start = 0; start < agentEvents.length; start += EVENTS_ENCODED_PER_SLICE) {
      if (encoded >= EVENTS_ENCODED_PER_SLICE) {
        await yieldToLoop();
        encoded = 0;
      }
      const slice = agentEvents.slice(start, start + EVENTS_ENCODED_PER_SLICE);
      messages.push(...codec.encodeBatch('thoth.v1.BehavioralEvent', key, slice, { [REDACTED_HEADER]: '1' }));
      encoded += slice.length;
    }
  return messages;
}

/** The events of each agent (bus key), in their order. */
function byAgent(events: readonly BehavioralEvent[]): Map<string, BehavioralEvent[]> {
  const groups = new Map<string, BehavioralEvent[]>();
  for (const e of events) {
    const key = agentKey(e.tenant_id, e.agent_id);
    const group = groups.get(key);
    if (group) group.push(e);
    else groups.set(key, [e]);
  }
  return groups;
}

function withTenant(event: unknown, tenantId: string): unknown {
  if (event === null || typeof event !== 'object' || Array.isArray(event)) return event;
  const e = event as Record<string, unknown>;
  if (e.tenant_id !== undefined || e.tenantId !== undefined) return e;
  return { ...e, tenant_id: tenantId };
}
