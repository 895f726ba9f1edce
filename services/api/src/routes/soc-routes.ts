import {
  agentFilterQuerySchema,
  agentForensicsSchema,
  chainVerificationSchema,
  errorResponse,
  errorResponses,
  evidenceBundleSchema,
  evidenceChainPageSchema,
  evidenceChainQuerySchema,
  feedFilterSchema,
  feedPageSchema,
  liveTailStreamSchema,
  sessionForensicsSchema,
  tenantParamsSchema,
  tenantSubjectParamsSchema,
} from '@thoth/contracts';
import type { SigningKey, Store } from '@thoth/platform';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { credentialFrom } from '../control/api-keys.ts';
import type { ControlState } from '../control/control-state.ts';
import { type Authenticator, assertReadScope, keyRefusal } from '../http/auth.ts';
import { HttpError } from '../http/http-error.ts';
import { requireStore, tenantReader } from '../http/tenant-reader.ts';
import {
  type LiveTail,
  MAX_BUFFERED_BYTES,
  MAX_STREAMS_PER_KEY,
  MAX_STREAMS_PER_TENANT,
} from '../live-tail.ts';
import {
  EVENT_COLUMNS,
  feedPage,
  feedQueries,
  type StoredEvent,
  sessionSummary,
  toApiEvent,
} from '../soc/audit-queries.ts';
import { evidenceBundle, type PublicKeyInfo, verifyChains } from '../soc/evidence.ts';

export interface SocRouteDeps {
  auth: Authenticator;
  store: Pick<Store, 'select'> | undefined;
  control: ControlState;
  signer: SigningKey;
  liveTail: LiveTail | undefined;
}

const TIMELINE_LIMIT = 10_000;

/** The errors of every trail read: a `read` key of the tenant (or of the agent it names), and a store. */
const readErrors = {
  ...errorResponses(400, 401, 403, 414, 429, 500),
  503: errorResponse('store_unavailable: this process has no audit-trail store'),
};
const noEvents = errorResponse('not_found: no events for this session or agent');

export const socRoutes =
  (deps: SocRouteDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const reader = tenantReader(deps.auth);
    const store = () => requireStore(deps.store);
    const signingKeys = (): PublicKeyInfo[] => {
      const keys = deps.control.projection.receiptKeyList();
      return keys.some((k) => k.key_id === deps.signer.keyId)
        ? keys
        : [...keys, { key_id: deps.signer.keyId, public_key_pem: deps.signer.publicKeyPem }];
    };
    const timeline = async (tenant: string, where: string, params: Record<string, unknown>) =>
      (
        await store().select<StoredEvent>(
          `SELECT ${EVENT_COLUMNS} FROM events WHERE tenant_id = {tenant:String} AND ${where}
           ORDER BY occurred_at, agent_id, chain_index LIMIT ${TIMELINE_LIMIT}`,
          { tenant, ...params },
        )
      ).map(toApiEvent);

    app.get(
      '/:tenant/thoth/governance/feed',
      {
        schema: {
          summary: 'Search the audit trail',
          tags: ['SOC'],
          params: tenantParamsSchema,
          querystring: feedFilterSchema,
          response: { 200: feedPageSchema.describe('a page of the audit trail'), ...readErrors },
        },
      },
      async (request) => {
        reader(request, request.params.tenant, request.query.agent_id);
        const q = feedQueries(request.params.tenant, request.query);
        const [rows, [count]] = await Promise.all([
          store().select<StoredEvent>(q.rows.sql, q.rows.params),
          store().select<{ total: number | string }>(q.total.sql, q.total.params),
        ]);
        return feedPage(rows, Number(count?.total ?? 0), request.query);
      },
    );

    app.get(
      '/:tenant/thoth/sessions/:id/forensics',
      {
        schema: {
          summary: 'A session’s ordered timeline and summary',
          tags: ['SOC'],
          params: tenantSubjectParamsSchema,
          response: {
            200: sessionForensicsSchema.describe('the session’s timeline and summary'),
            ...readErrors,
            404: noEvents,
          },
        },
      },
      async (request) => {
        reader(request, request.params.tenant, undefined);
        const events = await timeline(request.params.tenant, 'session_id = {session:String}', {
          session: request.params.id,
        });
        if (events.length === 0)
          throw new HttpError(404, 'not_found', `no events for session ${request.params.id}`);
        return { session_id: request.params.id, summary: sessionSummary(events), timeline: events };
      },
    );

    app.get(
      '/:tenant/thoth/agents/:id/forensics/latest',
      {
        schema: {
          summary: 'Forensics of an agent’s most recent session',
          tags: ['SOC'],
          params: tenantSubjectParamsSchema,
          response: {
            200: agentForensicsSchema.describe('the agent’s latest session: timeline and summary'),
            ...readErrors,
            404: noEvents,
          },
        },
      },
      async (request) => {
        reader(request, request.params.tenant, request.params.id);
        const [latest] = await store().select<{ session_id: string }>(
          `SELECT session_id FROM events WHERE tenant_id = {tenant:String} AND agent_id = {agent:String}
           ORDER BY occurred_at DESC LIMIT 1`,
          { tenant: request.params.tenant, agent: request.params.id },
        );
        if (!latest) throw new HttpError(404, 'not_found', `no events for agent ${request.params.id}`);
        const events = await timeline(
          request.params.tenant,
          'agent_id = {agent:String} AND session_id = {session:String}',
          {
            agent: request.params.id,
            session: latest.session_id,
          },
        );
        return {
          agent_id: request.params.id,
          session_id: latest.session_id,
          summary: sessionSummary(events),
          timeline: events,
        };
      },
    );

    app.get(
      '/:tenant/thoth/evidence/chain',
      {
        schema: {
          summary: 'An agent’s evidence chain from a sequence number (cursor: next_sequence)',
          tags: ['SOC'],
          params: tenantParamsSchema,
          querystring: evidenceChainQuerySchema,
          response: {
            200: evidenceChainPageSchema.describe('the chain’s links from from_sequence'),
            ...readErrors,
          },
        },
      },
      async (request) => {
        reader(request, request.params.tenant, request.query.agent_id);
        const { agent_id, from_sequence, limit } = request.query;
        const rows = await store().select<StoredEvent>(
          `SELECT ${EVENT_COLUMNS} FROM events
           WHERE tenant_id = {tenant:String} AND agent_id = {agent:String} AND chain_index >= {from:UInt64}
           ORDER BY chain_index LIMIT {limit:UInt32}`,
          { tenant: request.params.tenant, agent: agent_id, from: from_sequence, limit },
        );
        const data = rows.map(toApiEvent);
        const last = data[data.length - 1];
        return {
          agent_id,
          data,
          from_sequence,
          next_sequence: data.length === limit && last ? Number(last.chain_index) + 1 : null,
        };
      },
    );

    const verifyRoute = {
      schema: {
        summary: 'Recompute the evidence chain and report the first broken link',
        tags: ['SOC'],
        params: tenantParamsSchema,
        querystring: agentFilterQuerySchema,
        response: { 200: chainVerificationSchema.describe('the verification'), ...readErrors },
      },
    };
    // POST reads no body, but one sent is parsed (400 invalid_json, 413).
    const verifyPostRoute = {
      schema: {
        ...verifyRoute.schema,
        response: { ...verifyRoute.schema.response, ...errorResponses(413, 415) },
      },
    };
    const verifyHandler = async (
      request: {
        params: { tenant: string };
        query: { agent_id?: string | undefined };
      } & Parameters<Authenticator['require']>[0],
    ) => {
      reader(request, request.params.tenant, request.query.agent_id);
      return verifyChains(store(), request.params.tenant, signingKeys(), request.query.agent_id);
    };
    app.get('/:tenant/governance/evidence/verify-chain', verifyRoute, verifyHandler);
    app.post('/:tenant/governance/evidence/verify-chain', verifyPostRoute, verifyHandler);

    app.get(
      '/:tenant/thoth/sessions/:id/evidence-bundle',
      {
        schema: {
          summary:
            'A signed, self-contained evidence bundle of a session (verify offline: scripts/verify-bundle.mjs)',
          tags: ['SOC'],
          params: tenantSubjectParamsSchema,
          response: { 200: evidenceBundleSchema.describe('the signed bundle'), ...readErrors, 404: noEvents },
        },
      },
      async (request) => {
        reader(request, request.params.tenant, undefined);
        const bundle = await evidenceBundle(
          store(),
          request.params.tenant,
          request.params.id,
          deps.signer,
          signingKeys(),
        );
        if (!bundle) throw new HttpError(404, 'not_found', `no events for session ${request.params.id}`);
        return bundle;
      },
    );

    app.get(
      '/v1/stream',
      {
        schema: {
          summary: 'Live tail (Server-Sent Events) of the tenant’s new events and decisions',
          description:
            `At most ${MAX_STREAMS_PER_KEY} open streams per API key and ${MAX_STREAMS_PER_TENANT} per tenant ` +
            `(429 past them). A client that falls more than ${MAX_BUFFERED_BYTES / 1024 / 1024} MiB behind is ` +
            'dropped; a stream ends within a second of its key’s revocation. Either way its last line is a ' +
            'comment `: closed: <reason>`.',
          tags: ['SOC'],
          querystring: agentFilterQuerySchema,
          response: {
            200: {
              description: 'the stream (Server-Sent Events)',
              content: { 'text/event-stream': { schema: liveTailStreamSchema } },
            },
            ...errorResponses(400, 401, 403, 500),
            429: errorResponse(
              `rate_limited; too_many_streams: over ${MAX_STREAMS_PER_KEY} open streams for this key or ` +
                `${MAX_STREAMS_PER_TENANT} for its tenant`,
            ),
            503: errorResponse('stream_unavailable: this process has no live tail'),
          },
        },
      },
      async (request, reply) => {
        const identity = deps.auth.require(request, 'read');
        assertReadScope(identity, request.query.agent_id);
        if (!deps.liveTail) throw new HttpError(503, 'stream_unavailable', 'this process has no live tail');
        // Present: require() just accepted it. Kept to check the key again while the stream is open.
        const apiKey = credentialFrom(request.headers) ?? '';
        const opened = deps.liveTail.open(
          { tenantId: identity.tenantId, keyId: identity.keyId, agentId: request.query.agent_id },
          reply.raw,
          () => keyRefusal(deps.control, apiKey, Date.now()),
        );
        if (!opened.ok) throw new HttpError(429, 'too_many_streams', opened.message);
        reply.hijack();
        reply.raw.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        await opened.ready;
      },
    );
    // Open streams never end on their own: without this, closing the server would wait for every client.
    app.addHook('preClose', async () => {
      await deps.liveTail?.stop();
    });
  };
