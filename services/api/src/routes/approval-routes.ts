import {
  type ApprovalView,
  approvalListSchema,
  approvalParamsSchema,
  approvalsQuerySchema,
  approvalView,
  approvalViewSchema,
  errorResponse,
  errorResponses,
  type HoldRecord,
  resolveApprovalBodySchema,
  tenantParamsSchema,
} from '@thoth/contracts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  HoldConflictError,
  type HoldRegistry,
  HoldUnconfirmedError,
  HoldVoteRefusedError,
} from '../holds/hold-registry.ts';
import { type Authenticator, assertReadScope, personOf } from '../http/auth.ts';
import { HttpError } from '../http/http-error.ts';

export interface ApprovalRouteDeps {
  auth: Authenticator;
  holds: HoldRegistry;
}

/** An approval as the API answers it (approvalView's shape is approvalViewSchema; tests check every answer). */
const approvalOf = (hold: HoldRecord) => approvalView(hold) as ApprovalView;

const noApproval = errorResponse('not_found: no such approval in this tenant');

export const approvalRoutes =
  (deps: ApprovalRouteDeps): FastifyPluginAsyncZod =>
  async (app) => {
    /**
     * A reader of the tenant's approvals: a tenant-wide key with "read", a signed-in person of the tenant, or the
     * admin token (which may also resolve them).
     */
    const requireReader = (request: Parameters<Authenticator['require']>[0], tenant: string) => {
      if (personOf(request) || deps.auth.isAdminToken(request))
        return deps.auth.requireAdmin(request, tenant, 'read');
      const identity = deps.auth.require(request, 'read');
      if (identity.tenantId !== tenant)
        throw new HttpError(403, 'tenant_mismatch', 'this API key reads its own tenant only');
      assertReadScope(identity, undefined);
      return identity;
    };

    app.get(
      '/:tenant/thoth/approvals',
      {
        schema: {
          summary: 'Step-up approvals of the tenant, newest first',
          tags: ['approvals'],
          params: tenantParamsSchema,
          querystring: approvalsQuerySchema,
          response: {
            200: approvalListSchema.describe('the approvals, newest first'),
            ...errorResponses(400, 401, 403, 414, 429, 500),
          },
        },
      },
      async (request) => {
        requireReader(request, request.params.tenant);
        const { status, page, per_page } = request.query;
        const { data, total } = deps.holds.list(request.params.tenant, status, page, per_page);
        return { data: data.map(approvalOf), total, page, per_page };
      },
    );

    app.get(
      '/:tenant/thoth/approvals/:id',
      {
        schema: {
          summary: 'One step-up approval, with its rules (approvers, approvals_required) and votes so far',
          tags: ['approvals'],
          params: approvalParamsSchema,
          response: {
            200: approvalViewSchema.describe('the approval, with its rules and votes'),
            ...errorResponses(400, 401, 403, 414, 429, 500),
            404: noApproval,
          },
        },
      },
      async (request) => {
        requireReader(request, request.params.tenant);
        const hold = deps.holds.byApprovalId(request.params.id);
        if (!hold || hold.tenant_id !== request.params.tenant)
          throw new HttpError(404, 'not_found', `no approval ${request.params.id}`);
        return approvalOf(hold);
      },
    );

    app.post(
      '/:tenant/thoth/approvals/:id/resolve',
      {
        schema: {
          summary:
            'Vote to approve or deny a pending step-up (a person with the approver role, an "admin" key or the ' +
            'admin token); the hold resolves at its required approvals or the first denial',
          tags: ['approvals'],
          params: approvalParamsSchema,
          body: resolveApprovalBodySchema,
          response: {
            200: approvalViewSchema.describe('the approval as it stands after this vote'),
            ...errorResponses(400, 401, 413, 414, 415, 429, 500),
            403: errorResponse(
              'forbidden: this principal may not vote on this approval (a viewer, not in its approvers, the ' +
                'person the call was made for, a second vote, a key with execute or write, a key where people ' +
                'must approve); tenant_mismatch, agent_mismatch; csrf_failed',
            ),
            404: noApproval,
            409: errorResponse('conflict: the approval is already resolved, or being resolved'),
            503: errorResponse(
              'unconfirmed: the resolution could not be confirmed; read the approval to see which one stands',
            ),
          },
        },
      },
      async (request) => {
        // Approving is a person's act: agents' keys (execute, write) must never release their own calls.
        const principal = deps.auth.requireApprover(request, request.params.tenant);
        const hold = deps.holds.byApprovalId(request.params.id);
        if (!hold || hold.tenant_id !== request.params.tenant)
          throw new HttpError(404, 'not_found', `no approval ${request.params.id}`);
        try {
          const after = await deps.holds.vote(hold.token, {
            principal,
            decision: request.body.decision,
            comment: request.body.comment || null,
          });
          return approvalOf(after);
        } catch (error) {
          // Separation of duties, approver groups, one person once: this principal may not vote on this one.
          if (error instanceof HoldVoteRefusedError) throw new HttpError(403, 'forbidden', error.message);
          // Approve and deny at once (here or on another replica): exactly one wins, the other is 409.
          if (error instanceof HoldConflictError)
            throw new HttpError(409, 'conflict', `approval ${error.message}`);
          if (error instanceof HoldUnconfirmedError)
            throw new HttpError(
              503,
              'unconfirmed',
              `approval ${request.params.id}: ${error.message}; read the approval to see which resolution stands`,
            );
          throw error;
        }
      },
    );
  };
