import {
  enforceRequestSchema,
  enforceResponseSchema,
  errorResponse,
  errorResponses,
  type HoldPollAnswer,
  type HoldRecord,
  holdParamsSchema,
  holdPollAnswerSchema,
  plainEnforceRequest,
} from '@thoth/contracts';
import { type FastifyPluginAsyncZod, validatorCompiler } from 'fastify-type-provider-zod';
import type { Enforcer } from '../enforce/enforcer.ts';
import type { HoldRegistry } from '../holds/hold-registry.ts';
import { type Authenticator, assertSameTenant } from '../http/auth.ts';
import { HttpError } from '../http/http-error.ts';

export interface EnforceRouteDeps {
  auth: Authenticator;
  enforcer: Enforcer;
  holds: HoldRegistry;
}

export const enforceRoutes =
  (deps: EnforceRouteDeps): FastifyPluginAsyncZod =>
  async (app) => {
    app.post(
      '/v1/enforce',
      {
        schema: {
          summary: 'Decide one tool call: ALLOW, BLOCK, STEP_UP, MODIFY or DEFER',
          description:
            'A plain ALLOW leaves out its explanation (score_components, top_contributors, decision_evidence); ' +
            'the query `?detail=full` asks for it too. (Not a declared query parameter: the common request pays ' +
            'for no query validation.)',
          tags: ['data plane'],
          body: enforceRequestSchema,
          response: {
            200: enforceResponseSchema.describe('the decision, its explanation and its signed receipt'),
            ...errorResponses(400, 401, 403, 413, 415, 429, 500),
          },
        },
        // The body an SDK sends is checked by hand (plainEnforceRequest, held to the schema by its tests);
        // anything else goes through the schema, which names the field at fault.
        validatorCompiler: (route) => {
          const bySchema = validatorCompiler(route as unknown as Parameters<typeof validatorCompiler>[0]);
          if (route.httpPart !== 'body') return bySchema;
          return (body) => {
            const plain = plainEnforceRequest(body);
            return plain === undefined ? bySchema(body) : { value: plain };
          };
        },
      },
      async (request) => {
        const identity = deps.auth.require(request, 'execute');
        assertSameTenant(identity, request.body.tenant_id, request.body.agent_id);
        // `?detail=full` explains a plain ALLOW too (docs/protocol.md §Enforce response); not in the schema, so
        // the common request pays for no query validation.
        return deps.enforcer.enforce(request.body, (request.query as { detail?: unknown }).detail === 'full');
      },
    );

    app.get(
      '/v1/enforce/hold/:token',
      {
        schema: {
          summary: 'Poll a STEP_UP hold',
          tags: ['data plane'],
          params: holdParamsSchema,
          response: {
            200: holdPollAnswerSchema.describe('the hold as it stands'),
            ...errorResponses(400, 401, 403, 414, 429, 500),
            404: errorResponse('not_found: no such hold for this key (another tenant’s or agent’s included)'),
          },
        },
      },
      async (request) => {
        const identity = deps.auth.require(request, 'execute');
        const hold = deps.holds.get(request.params.token);
        // Another tenant's hold, or another agent's for an agent-scoped key, is answered exactly like a missing one.
        if (
          !hold ||
          hold.tenant_id !== identity.tenantId ||
          (identity.agentId !== null && hold.agent_id !== identity.agentId)
        )
          throw new HttpError(404, 'not_found', 'unknown hold token');
        return pollAnswer(hold);
      },
    );
  };

/** The poll shapes every SDK family understands (docs/protocol.md §Poll answers). Never MODIFY/DEFER, never STEP_UP once resolved. */
export function pollAnswer(hold: HoldRecord): HoldPollAnswer {
  const base = {
    token: hold.token,
    violation_id: hold.violation_id,
    expires_at: new Date(hold.expires_at).toISOString(),
  };
  switch (hold.status) {
    case 'pending':
      return { ...base, resolved: false, resolution: null, decision: 'STEP_UP', status: 'pending' };
    case 'approved':
      return {
        ...base,
        resolved: true,
        resolution: 'ALLOW',
        decision: 'ALLOW',
        status: 'approved',
        reason: hold.comment || `approved by ${hold.resolved_by ?? 'an approver'}`,
      };
    case 'denied':
      return {
        ...base,
        resolved: true,
        resolution: 'BLOCK',
        decision: 'BLOCK',
        status: 'denied',
        reason: hold.comment || `denied by ${hold.resolved_by ?? 'an approver'}`,
      };
    case 'expired':
      return {
        ...base,
        resolved: true,
        resolution: 'BLOCK',
        decision: 'BLOCK',
        status: 'expired',
        reason: `step-up approval expired after ${Math.round((hold.expires_at - hold.created_at) / 1_000)} s without a decision`,
      };
  }
}
