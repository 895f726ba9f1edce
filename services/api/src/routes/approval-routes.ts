import { approvalView } from '@thoth/contracts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  HoldConflictError,
  type HoldRegistry,
  HoldUnconfirmedError,
  HoldVoteRefusedError,
} from '../holds/hold-registry.ts';
import { type Authenticator, assertReadScope, personOf } from '../http/auth.ts';
import { HttpError } from '../http/http-error.ts';
import { TENANT_ID } from './key-routes.ts';

export interface ApprovalRouteDeps {
  auth: Authenticator;
  holds: HoldRegistry;
}

const tenantParams = z.object({ tenant: TENANT_ID });
const approvalParams = tenantParams.extend({ id: z.string().min(1).max(128) });

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
          params: tenantParams,
          querystring: z.object({
            status: z.enum(['pending', 'approved', 'denied', 'expired']).optional(),
            page: z.coerce.number().int().min(1).max(100_000).default(1),
            per_page: z.coerce.number().int().min(1).max(500).default(50),
          }),
        },
      },
      async (request) => {
        requireReader(request, request.params.tenant);
        const { status, page, per_page } = request.query;
        const { data, total } = deps.holds.list(request.params.tenant, status, page, per_page);
        return { data: data.map(approvalView), total, page, per_page };
      },
    );

    app.get(
      '/:tenant/thoth/approvals/:id',
      {
        schema: {
          summary: 'One step-up approval, with its rules (approvers, approvals_required) and votes so far',
          tags: ['approvals'],
          params: approvalParams,
        },
      },
      async (request) => {
        requireReader(request, request.params.tenant);
        const hold = deps.holds.byApprovalId(request.params.id);
        if (!hold || hold.tenant_id !== request.params.tenant)
          throw new HttpError(404, 'not_found', `no approval ${request.params.id}`);
        return approvalView(hold);
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
          params: approvalParams,
          body: z.object({
            decision: z.enum(['approve', 'deny']),
            comment: z.string().trim().max(2_000).nullish(),
          }),
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
          return approvalView(after);
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
