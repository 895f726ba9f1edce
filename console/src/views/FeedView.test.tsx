import { fireEvent, screen, waitFor } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { filtersFrom } from '../lib/feed-model.ts';
import { useLocation } from '../lib/router.ts';
import { IdleEventSource, json, renderWithQuery, session, stubFetch } from '../test/helpers.tsx';
import { FeedView } from './FeedView.tsx';

/** The feed as the app mounts it: its filters come from the URL. */
function Routed() {
  const location = useLocation();
  return <FeedView session={session()} params={location.params} />;
}

describe('FeedView filters', () => {
  it('reads its filters from the URL, writes them back on Apply, and queries the API with them', async () => {
    vi.stubGlobal('EventSource', IdleEventSource);
    const fetchMock = stubFetch(() => json({ data: [], total: 0 }));
    window.history.replaceState(null, '', '/console/feed?agent_id=agent-7&decision=BLOCK');
    renderWithQuery(<Routed />);
    // URL → form
    expect((screen.getByLabelText('Agent') as HTMLInputElement).value).toBe('agent-7');
    expect((screen.getByLabelText('Decision') as HTMLSelectElement).value).toBe('BLOCK');
    await waitFor(() => expect(fetchMock).toHaveBeenCalled());
    const first = new URL(String(fetchMock.mock.calls[0]?.[0]), 'http://x');
    expect(first.pathname).toBe('/acme-corp/thoth/governance/feed');
    expect(first.searchParams.get('agent_id')).toBe('agent-7');
    expect(first.searchParams.get('decision')).toBe('BLOCK');

    // form → URL
    fireEvent.change(screen.getByLabelText('Tool'), { target: { value: ' wire ' } });
    fireEvent.change(screen.getByLabelText('Decision'), { target: { value: '' } });
    fireEvent.click(screen.getByRole('button', { name: 'Apply' }));
    expect(window.location.pathname).toBe('/console/feed');
    const params = new URLSearchParams(window.location.search);
    expect(filtersFrom(params)).toEqual({ agent_id: 'agent-7', tool_name: 'wire' });

    // URL → form again (the form is rebuilt from the new URL), and the API is asked with the new filters
    await waitFor(() => expect((screen.getByLabelText('Tool') as HTMLInputElement).value).toBe('wire'));
    expect((screen.getByLabelText('Decision') as HTMLSelectElement).value).toBe('');
    await waitFor(() =>
      expect(
        fetchMock.mock.calls.some((c) => {
          const u = new URL(String(c[0]), 'http://x');
          return u.searchParams.get('tool_name') === 'wire' && !u.searchParams.has('decision');
        }),
      ).toBe(true),
    );

    fireEvent.click(screen.getByRole('button', { name: 'Clear' }));
    expect(window.location.search).toBe('');
    await waitFor(() => expect((screen.getByLabelText('Agent') as HTMLInputElement).value).toBe(''));
  });
});
