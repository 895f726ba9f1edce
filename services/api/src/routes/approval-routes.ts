import { approvalView } from '@thoth/common/approval-view';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { HoldConflictError, type HoldRegistry, HoldUnconfirmedError } from '../holds/hold-registry.ts';
import { type Authenticator, assertReadScope } from '../http/auth.ts';
import { HttpError } from '../http/http-error.ts';
import { TENANT_ID } from './key-routes.ts';

export interface ApprovalRouteDeps {
  auth: Authenticator;
  holds: HoldRegistry;
}

const tenantParams = z.object({ tenant: TENANT_ID });

export const approvalRoutes =
  (deps: ApprovalRouteDeps): FastifyPluginAsyncZod =>
  async (app) => {
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
        const identity = deps.auth.require(request, 'read');
        if (identity.tenantId !== request.params.tenant)
          throw new HttpError(403, 'tenant_mismatch', 'this API key reads its own tenant only');
        assertReadScope(identity, undefined);
        const { status, page, per_page } = request.query;
        const { data, total } = deps.holds.list(request.params.tenant, status, page, per_page);
        return { data: data.map(approvalView), total, page, per_page };
      },
    );

    app.post(
      '/:tenant/thoth/approvals/:id/resolve',
      {
        schema: {
          summary: 'Approve or deny a pending step-up (a key with "admin"); releases that one held call only',
          tags: ['approvals'],
          params: tenantParams.extend({ id: z.string().min(1).max(128) }),
          body: z.object({
            decision: z.enum(['approve', 'deny']),
            comment: z.string().trim().max(2_000).nullish(),
          }),
        },
      },
      async (request) => {
        // Approving is a person's act: agents' keys (execute, write) must never release their own calls.
        const resolvedBy = deps.auth.requireAdmin(request, request.params.tenant);
        const hold = deps.holds.byApprovalId(request.params.id);
        if (!hold || hold.tenant_id !== request.params.tenant)
          throw new HttpError(404, 'not_found', `no approval ${request.params.id}`);
        try {
          const resolved = await deps.holds.resolve(
            hold.token,
            request.body.decision === 'approve' ? 'approved' : 'denied',
            resolvedBy,
            request.body.comment || null,
          );
          return approvalView(resolved);
        } catch (error) {
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
