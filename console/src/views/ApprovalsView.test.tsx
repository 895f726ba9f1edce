import { fireEvent, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { json, renderWithQuery, session, stubFetch } from '../test/helpers.tsx';
import { type Approval, ApprovalsView } from './ApprovalsView.tsx';

const approval: Approval = {
  id: 'ap-1',
  status: 'pending',
  agent_id: 'agent-7',
  session_id: 's-1',
  tool_name: 'wire',
  args_digest: 'sha256:abc',
  args_preview: { amount: 9000 },
  reason: 'wire transfers need a human',
  reason_code: 'step_up_required',
  risk_score: 0.8,
  finding_ids: [],
  created_at: new Date(Date.now() - 10_000).toISOString(),
  expires_at: new Date(Date.now() + 120_000).toISOString(),
  resolved_at: null,
  resolved_by: null,
  comment: null,
  approvers: [],
  approvals_required: 1,
  policy_version: 1,
  votes: [],
};

function routes(url: URL) {
  if (url.pathname === '/acme-corp/thoth/approvals') return json({ data: [approval], total: 1 });
  return json({ data: [], total: 0 });
}

async function openApproval() {
  fireEvent.click(await screen.findByRole('button', { name: /\d{4}-\d{2}-\d{2}/ }));
  return screen.findByRole('complementary', { name: 'Approval detail' });
}

describe('ApprovalsView', () => {
  it('lists pending approvals and hides Approve and Deny from a read-only session', async () => {
    stubFetch(routes);
    renderWithQuery(
      <ApprovalsView session={session({ permissions: ['read'] })} params={new URLSearchParams()} />,
    );
    expect((await screen.findAllByTestId('approval-row')).length).toBe(1);
    const detail = await openApproval();
    expect(detail.textContent).toContain('wire');
    expect(screen.queryByRole('button', { name: 'Approve' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Deny' })).toBeNull();
  });

  it('shows Approve to a tenant admin', async () => {
    stubFetch(routes);
    renderWithQuery(
      <ApprovalsView
        session={session({ permissions: ['execute', 'write', 'read', 'admin'] })}
        params={new URLSearchParams()}
      />,
    );
    await openApproval();
    expect(screen.getByRole('button', { name: 'Approve' })).toBeTruthy();
  });

  it('an agent-scoped session sees no tenant-wide queue and reads nothing', async () => {
    const fetchMock = stubFetch(routes);
    renderWithQuery(
      <ApprovalsView session={session({ agent_id: 'agent-7' })} params={new URLSearchParams()} />,
    );
    expect(screen.getByText(/scoped to agent agent-7/)).toBeTruthy();
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it('shows a two-person rule with its votes, and offers the vote to a signed-in approver but not to a viewer', async () => {
    const twoPerson: Approval = {
      ...approval,
      approvers: ['payments-approvers'],
      approvals_required: 2,
      votes: [
        {
          principal: {
            kind: 'person',
            issuer: 'https://idp.example',
            subject: 'alice',
            email: 'alice@example.com',
            key_id: null,
            name: 'Alice',
          },
          decision: 'approve',
          comment: 'invoice checked',
          at: new Date().toISOString(),
        },
      ],
    };
    stubFetch((url) =>
      url.pathname === '/acme-corp/thoth/approvals'
        ? json({ data: [twoPerson], total: 1 })
        : json({ data: [], total: 0 }),
    );
    const person = (role: 'viewer' | 'approver') => ({
      issuer: 'https://idp.example',
      subject: 'bob',
      email: 'bob@example.com',
      name: 'Bob',
      groups: ['payments-approvers'],
      role,
    });
    const view = renderWithQuery(
      <ApprovalsView
        session={session({ permissions: ['read'], person: person('approver') })}
        params={new URLSearchParams()}
      />,
    );
    const detail = await openApproval();
    expect(screen.getByTestId('approval-rule').textContent).toContain(
      'Needs 2 approvals from payments-approvers',
    );
    expect(detail.textContent).toContain('Approved by alice@example.com');
    expect(detail.textContent).toContain('invoice checked');
    expect(screen.getByRole('button', { name: 'Approve' })).toBeTruthy();
    view.unmount();

    renderWithQuery(
      <ApprovalsView
        session={session({ permissions: ['read'], person: person('viewer') })}
        params={new URLSearchParams()}
      />,
    );
    await openApproval();
    expect(screen.queryByRole('button', { name: 'Approve' })).toBeNull();
    expect(screen.getByText(/Your role is viewer/)).toBeTruthy();
  });
});
