import { screen, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { runPool } from '../lib/pool.ts';
import { json, renderWithQuery, stubFetch } from '../test/helpers.tsx';
import { AgentChains } from './OverviewView.tsx';

describe('chain verification per agent (overview)', () => {
  it('verifies each agent two at a time, shows progress and the first broken link, and caches for the session', async () => {
    let inFlight = 0;
    let most = 0;
    const release: (() => void)[] = [];
    const fetchMock = stubFetch(async (url) => {
      const agent = url.searchParams.get('agent_id') ?? '';
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise<void>((resolve) => release.push(resolve));
      inFlight--;
      if (agent === 'agent-c')
        return json({
          verified: false,
          records_checked: 7,
          breach_detail: { agent_id: agent, chain_index: 7, event_id: 'e7', reason: 'hash_mismatch' },
        });
      return json({ verified: true, records_checked: 10, breach_detail: null });
    });
    const agents = ['agent-a', 'agent-b', 'agent-c', 'agent-d', 'agent-e'];
    const { client, unmount } = renderWithQuery(<AgentChains tenant="acme-corp" agentIds={agents} ready />);
    expect(screen.getAllByTestId('chain-row').map((r) => r.textContent)).toEqual(
      agents.map((a) => `${a}not yet checked`),
    );
    await waitFor(() => expect(release.length).toBe(2));
    expect(screen.getByTestId('chains-progress').textContent).toContain('0 of 5 agents checked');
    expect(screen.getAllByText('verifying…').length).toBe(2);
    // Let them finish one by one: never more than two at once.
    while (fetchMock.mock.calls.length < 5 || release.length > 0) {
      await waitFor(() => expect(release.length).toBeGreaterThan(0));
      release.shift()?.();
      await new Promise((r) => setTimeout(r, 0));
    }
    await waitFor(() =>
      expect(screen.getByTestId('chains-progress').textContent).toContain('5 agents checked'),
    );
    expect(most).toBe(2);
    expect(screen.getByTestId('chains-progress').textContent).toContain('1 BROKEN');
    const rows = screen.getAllByTestId('chain-row').map((r) => r.textContent);
    expect(rows[0]).toBe('agent-averified · 10 records');
    expect(rows[2]).toBe('agent-cBROKEN at #7 (hash_mismatch, event e7)');
    expect(fetchMock.mock.calls.map((c) => new URL(String(c[0]), 'http://x').pathname)).toEqual(
      agents.map(() => '/acme-corp/governance/evidence/verify-chain'),
    );
    // Shown again in the same session: nothing is verified again.
    unmount();
    const { QueryClientProvider } = await import('@tanstack/react-query');
    const { render } = await import('@testing-library/react');
    render(
      <QueryClientProvider client={client}>
        <AgentChains tenant="acme-corp" agentIds={agents} ready />
      </QueryClientProvider>,
    );
    expect(screen.getByTestId('chains-progress').textContent).toContain('5 agents checked');
    expect(fetchMock).toHaveBeenCalledTimes(5);
  });

  it('says it is listing agents until the lists have loaded (never "every chain verified" for none)', () => {
    stubFetch(() => json({}));
    const { rerender } = renderWithQuery(<AgentChains tenant="acme-corp" agentIds={[]} ready={false} />);
    expect(screen.getByTestId('chains-progress').textContent).toBe('Listing agents…');
    rerender(<AgentChains tenant="acme-corp" agentIds={[]} ready />);
    expect(screen.getByText('No agents yet.')).toBeTruthy();
  });

  it('runPool keeps to its concurrency and survives a failing item', async () => {
    let running = 0;
    let most = 0;
    const done: number[] = [];
    await runPool([1, 2, 3, 4, 5, 6], 2, async (n) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 1));
      running--;
      if (n === 3) throw new Error('boom');
      done.push(n);
    });
    expect(most).toBe(2);
    expect(done.sort()).toEqual([1, 2, 4, 5, 6]);
  });
});
