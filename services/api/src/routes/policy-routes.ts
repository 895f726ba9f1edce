import {
  dryRunBodySchema,
  dryRunResultSchema,
  errorResponse,
  errorResponses,
  type PolicyInput,
  policyListSchema,
  policyVersionParamsSchema,
  policyVersionViewSchema,
  putPolicyBodySchema,
  tenantParamsSchema,
} from '@thoth/contracts';
import type { Store } from '@thoth/platform';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ControlState } from '../control/control-state.ts';
import { policyInForceView, policyVersionView } from '../control/control-views.ts';
import { DryRunLimiter } from '../control/dry-run-limiter.ts';
import { DRY_RUN_DEADLINE_MS, DryRunTimeoutError, runDryRunThread } from '../control/dry-run-thread.ts';
import { portablePolicy } from '../control/policy-dry-run.ts';
import { type CompiledPolicy, compilePolicy, PolicyError, parsePolicyText } from '../decision/index.ts';
import type { Authenticator } from '../http/auth.ts';
import { HttpError } from '../http/http-error.ts';
import {
  chainFieldsOf,
  EVENT_COLUMNS,
  type StoredEvent,
  whereOccurredBetween,
} from '../soc/audit-queries.ts';
import { controlError } from './key-routes.ts';

export interface PolicyRouteDeps {
  auth: Authenticator;
  control: ControlState;
  store: Pick<Store, 'select'> | undefined;
  /** Most recorded decisions one dry run replays (THOTH_DRY_RUN_MAX_EVENTS). */
  dryRunMaxEvents: number;
}

const READERS = ['read', 'admin'] as const;
/** Recorded decisions a dry run reads per query (see the dry-run route). */
const DRY_RUN_PAGE_ROWS = 2_000;

/** Validates and compiles a policy from the request; a bad one is a 400 naming the rule and the field. */
function compiledFrom(input: PolicyInput): {
  document: Record<string, unknown>;
  compiled: CompiledPolicy;
} {
  try {
    const document = typeof input === 'string' ? parsePolicyText(input, 'yaml') : input;
    if (document === null || typeof document !== 'object' || Array.isArray(document))
      throw new PolicyError('policy: must be an object with a rules list');
    return { document: document as Record<string, unknown>, compiled: compilePolicy(document) };
  } catch (error) {
    if (error instanceof PolicyError) throw new HttpError(400, 'invalid_policy', `policy: ${error.message}`);
    throw error;
  }
}

/**
 * A tenant's policy managed through the API: every change is a new version on the control topic (every
 * replica applies it within a second), a delete falls back to THOTH_POLICY_FILE / the default under a new
 * version, and a dry run replays recorded decisions from the audit trail against any rule set. A policy whose
 * condition is over the cost limit (docs/policies.md#cost-limits) is a 400 naming the rule.
 */
export const policyRoutes =
  (deps: PolicyRouteDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const reader = (request: Parameters<Authenticator['isAdminToken']>[0], tenant: string) =>
      deps.auth.requireAdmin(request, tenant, READERS);
    const dryRuns = new DryRunLimiter();

    app.get(
      '/:tenant/thoth/policies',
      {
        schema: {
          summary:
            'The rules decisions use now (`in_force`: version, source — api, file with path and SHA-256, or default — and rules) and the API-managed versions, oldest first',
          tags: ['policies'],
          params: tenantParamsSchema,
          response: {
            200: policyListSchema.describe('the rules in force and the API-managed versions'),
            ...errorResponses(400, 401, 403, 414, 429, 500),
          },
        },
      },
      async (request) => {
        const tenant = request.params.tenant;
        reader(request, tenant);
        const versions = deps.control.projection.policies.versions(tenant);
        return {
          current_version: deps.control.projection.policies.forTenant(tenant).version,
          source:
            versions.length === 0 || versions[versions.length - 1]!.deleted
              ? ('file' as const)
              : ('api' as const),
          data: versions.map((v) => policyVersionView(v, false)),
          in_force: policyInForceView(deps.control.projection.policies.inForce(tenant)),
        };
      },
    );

    app.get(
      '/:tenant/thoth/policies/versions/:version',
      {
        schema: {
          summary: 'One version of the tenant’s policy, with its document',
          tags: ['policies'],
          params: policyVersionParamsSchema,
          response: {
            200: policyVersionViewSchema.describe('the version, with its document'),
            ...errorResponses(400, 401, 403, 414, 429, 500),
            404: errorResponse('not_found: no such version'),
          },
        },
      },
      async (request) => {
        reader(request, request.params.tenant);
        const found = deps.control.projection.policies
          .versions(request.params.tenant)
          .find((v) => v.version === request.params.version);
        if (!found) throw new HttpError(404, 'not_found', `no policy version ${request.params.version}`);
        return policyVersionView(found, true);
      },
    );

    const putRoute = {
      schema: {
        summary: 'Create or update the tenant’s policy: a new version, applied by every replica within 1 s',
        tags: ['policies'],
        params: tenantParamsSchema,
        body: putPolicyBodySchema,
        response: {
          201: policyVersionViewSchema.describe('the new version, with its document'),
          ...errorResponses(401, 403, 413, 414, 415, 429, 500),
          400: errorResponse(
            'invalid_policy: the policy is invalid (the message names the rule and the field, or the cost ' +
              'limit a condition is over); invalid_request, invalid_json',
          ),
        },
      },
    };
    const putHandler = async (
      request: Parameters<Authenticator['isAdminToken']>[0] & {
        params: { tenant: string };
        body: { policy: PolicyInput; comment?: string | null | undefined };
      },
      reply: { code(status: number): unknown },
    ) => {
      const actor = deps.auth.requireAdmin(request, request.params.tenant);
      const { document } = compiledFrom(request.body.policy);
      const record = await deps.control.commands.putPolicyVersion({
        tenantId: request.params.tenant,
        document,
        actor,
        comment: request.body.comment ?? null,
      });
      reply.code(201);
      return policyVersionView(record, true);
    };
    app.post('/:tenant/thoth/policies', putRoute, putHandler);
    app.put('/:tenant/thoth/policies', putRoute, putHandler);

    app.delete(
      '/:tenant/thoth/policies',
      {
        schema: {
          summary:
            'Delete the tenant’s API-managed policy (a new version: back to THOTH_POLICY_FILE or the default)',
          tags: ['policies'],
          params: tenantParamsSchema,
          response: {
            200: policyVersionViewSchema.describe('the deletion, a version of its own'),
            ...errorResponses(400, 401, 403, 413, 414, 415, 429, 500),
            404: errorResponse('not_found: the tenant has no policy managed through the API'),
          },
        },
      },
      async (request) => {
        const actor = deps.auth.requireAdmin(request, request.params.tenant);
        const record = await deps.control.commands
          .putPolicyVersion({ tenantId: request.params.tenant, document: null, actor })
          .catch(controlError);
        return policyVersionView(record, false);
      },
    );

    app.post(
      '/:tenant/thoth/policies/dry-run',
      {
        schema: {
          summary:
            'Evaluate a rule set (default: the current policy) against recorded decisions: counts per decision and samples',
          tags: ['policies'],
          params: tenantParamsSchema,
          body: dryRunBodySchema,
          response: {
            200: dryRunResultSchema.describe('what the rule set decides for the recorded calls'),
            ...errorResponses(401, 403, 413, 414, 415, 500),
            400: errorResponse('invalid_policy: the rule set is invalid; invalid_request, invalid_json'),
            429: errorResponse(
              'rate_limited; dry_run_in_progress: a dry run of this tenant is running (Retry-After)',
            ),
            503: errorResponse(
              'store_unavailable: no audit-trail store in this process; dry_run_busy: every dry-run thread is ' +
                'in use (Retry-After); dry_run_timeout: the replay did not finish in time (narrow it)',
            ),
          },
        },
      },
      async (request) => {
        const tenant = request.params.tenant;
        reader(request, tenant);
        if (!deps.store)
          throw new HttpError(503, 'store_unavailable', 'this process has no audit-trail store');
        const { policy, agent_id, from, to, samples } = request.body;
        const compiled =
          policy === undefined
            ? deps.control.projection.policies.forTenant(tenant)
            : compiledFrom(policy).compiled;
        const slot = dryRuns.acquire(tenant);
        if (!slot.ok)
          throw new HttpError(slot.status, slot.code, slot.message, {
            'retry-after': String(slot.retryAfterSeconds),
          });
        try {
          const where = ['tenant_id = {tenant:String}', "kind = 'decision'"];
          const limit = Math.min(request.body.limit ?? deps.dryRunMaxEvents, deps.dryRunMaxEvents);
          const params: Record<string, unknown> = { tenant, limit };
          if (agent_id) {
            where.push('agent_id = {agent:String}');
            params.agent = agent_id;
          }
          whereOccurredBetween(where, params, from, to);
          // The most recent `limit` decisions, replayed oldest first. The store stays on this thread; the
          // replay, however heavy the rule set, runs on a thread of its own (dry-run-thread.ts).
          // Read in pages: each page's rows are parsed on this thread, so one read of 20,000 payloads would
          // hold the enforce path's loop for a few hundred ms; a page is a few ms, and the loop runs between them.
          // The pages read the rows stored before the first one, so decisions stored meanwhile shift nothing.
          where.push('written_at <= fromUnixTimestamp64Milli({as_of:Int64})');
          params.as_of = Date.now();
          const rows: StoredEvent[] = [];
          for (let offset = 0; offset < limit; offset += DRY_RUN_PAGE_ROWS) {
            const page = await deps.store.select<StoredEvent>(
              `SELECT ${EVENT_COLUMNS} FROM (
                 SELECT * FROM events WHERE ${where.join(' AND ')}
                 ORDER BY occurred_at DESC, event_id DESC LIMIT {limit:UInt32}
               ) ORDER BY occurred_at, event_id LIMIT {page:UInt32} OFFSET {offset:UInt32}`,
              { ...params, page: DRY_RUN_PAGE_ROWS, offset },
            );
            rows.push(...page);
            if (page.length < DRY_RUN_PAGE_ROWS) break;
          }
          const outcome = await runDryRunThread(portablePolicy(compiled), rows.map(chainFieldsOf), {
            samples,
          }).catch((error: unknown) => {
            if (error instanceof DryRunTimeoutError)
              throw new HttpError(
                503,
                'dry_run_timeout',
                `the dry run did not finish in ${DRY_RUN_DEADLINE_MS / 1000} s and was stopped: ` +
                  'narrow it (from, to, agent_id, limit)',
              );
            throw error;
          });
          return {
            ...outcome.result,
            truncated: outcome.truncated,
            limits: { max_events: deps.dryRunMaxEvents, deadline_ms: DRY_RUN_DEADLINE_MS },
            source: policy === undefined ? ('current' as const) : ('request' as const),
            window: { from: from ?? null, to: to ?? null, agent_id: agent_id ?? null },
          };
        } finally {
          slot.release();
        }
      },
    );
  };
