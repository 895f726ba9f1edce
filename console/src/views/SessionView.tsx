import { useQuery } from '@tanstack/react-query';
import { type ChangeEvent, type FormEvent, useMemo, useState } from 'react';
import { DecisionBadge, ErrorNote, formatTime, JsonBlock, TimeChart } from '../components.tsx';
import { api, type SessionInfo } from '../lib/api.ts';
import { type BundleVerdict, type EvidenceBundle, verifyBundle } from '../lib/bundle-verify.ts';
import { navigate } from '../lib/router.ts';
import { groupCalls, riskSeries, type TimelineEvent } from '../lib/timeline-model.ts';

interface Forensics {
  session_id: string;
  summary: Record<string, unknown>;
  timeline: TimelineEvent[];
}

/** A session: its calls PRE → decision → POST, risk over time, and its evidence bundle verified here. */
export function SessionView({ session, sessionId }: { session: SessionInfo; sessionId: string }) {
  if (!sessionId) return <SessionPicker />;
  return <SessionTimeline session={session} sessionId={sessionId} />;
}

function SessionPicker() {
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const id = String(new FormData(event.currentTarget).get('session') ?? '').trim();
    if (id) navigate(`/sessions/${encodeURIComponent(id)}`);
  };
  return (
    <section aria-labelledby="sessions-title">
      <h1 id="sessions-title">Session timeline</h1>
      <form onSubmit={submit} className="row">
        <label htmlFor="session-id">Session id</label>
        <input id="session-id" name="session" />
        <button type="submit">Open</button>
      </form>
      <p className="muted">Or open a session from a row of the live feed.</p>
    </section>
  );
}

function SessionTimeline({ session, sessionId }: { session: SessionInfo; sessionId: string }) {
  const base = `/${encodeURIComponent(session.tenant_id)}/thoth/sessions/${encodeURIComponent(sessionId)}`;
  const forensics = useQuery({
    queryKey: ['forensics', session.tenant_id, sessionId],
    queryFn: () => api<Forensics>(`${base}/forensics`),
    refetchInterval: 5_000,
  });
  const events = forensics.data?.timeline ?? [];
  const calls = useMemo(() => groupCalls(events), [events]);
  const risk = useMemo(() => riskSeries(events), [events]);
  const [verdict, setVerdict] = useState<(BundleVerdict & { source: string }) | undefined>();
  const [busy, setBusy] = useState(false);
  const [bundleError, setBundleError] = useState<unknown>();

  const fetchBundle = () => api<EvidenceBundle>(`${base}/evidence-bundle`);
  const download = async () => {
    setBundleError(undefined);
    try {
      const bundle = await fetchBundle();
      const url = URL.createObjectURL(
        new Blob([JSON.stringify(bundle, null, 2)], { type: 'application/json' }),
      );
      const a = document.createElement('a');
      a.href = url;
      a.download = `evidence-${sessionId}.json`;
      a.click();
      window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (e) {
      setBundleError(e);
    }
  };
  const verify = async (source: string, load: () => Promise<EvidenceBundle>) => {
    setBusy(true);
    setBundleError(undefined);
    try {
      setVerdict({ ...(await verifyBundle(await load())), source });
    } catch (e) {
      setBundleError(e);
      setVerdict(undefined);
    } finally {
      setBusy(false);
    }
  };
  const verifyFile = (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    if (file) void verify(file.name, async () => JSON.parse(await file.text()) as EvidenceBundle);
    event.target.value = '';
  };

  return (
    <section aria-labelledby="session-title">
      <div className="view-head">
        <h1 id="session-title">Session {sessionId}</h1>
      </div>
      <ErrorNote error={forensics.error} />
      {forensics.data && (
        <dl className="facts">
          <dt>Events</dt>
          <dd>{String(forensics.data.summary.events)}</dd>
          <dt>Agents</dt>
          <dd>{(forensics.data.summary.agents as string[]).join(', ')}</dd>
          <dt>First / last</dt>
          <dd>
            {String(forensics.data.summary.first_seen)} — {String(forensics.data.summary.last_seen)}
          </dd>
          <dt>Max risk</dt>
          <dd>{String(forensics.data.summary.max_risk_score)}</dd>
        </dl>
      )}
      <div className="row">
        <button type="button" onClick={download}>
          Download evidence bundle
        </button>
        <button type="button" onClick={() => verify('server bundle', fetchBundle)} disabled={busy}>
          Verify in browser
        </button>
        <label className="file">
          Verify a bundle file…
          <input
            type="file"
            accept="application/json,.json"
            onChange={verifyFile}
            data-testid="bundle-file"
          />
        </label>
      </div>
      <ErrorNote error={bundleError} />
      {verdict && (
        <div
          className={`verdict ${verdict.valid ? 'valid' : 'invalid'}`}
          role="status"
          aria-live="polite"
          data-testid="verdict"
        >
          <strong>{verdict.valid ? 'VALID' : 'INVALID'}</strong> ({verdict.source}): {verdict.recordsChecked}{' '}
          records recomputed{verdict.signedBy ? `, signed by ${verdict.signedBy}` : ''}.
          {verdict.firstBrokenLink && <p>First broken link: {verdict.firstBrokenLink}</p>}
          {verdict.problems.length > 0 && (
            <ul>
              {verdict.problems.slice(0, 10).map((p) => (
                <li key={p}>{p}</li>
              ))}
            </ul>
          )}
        </div>
      )}
      {risk.length > 0 && (
        <>
          <h2>Risk over time</h2>
          <TimeChart
            label="The session's risk score per decision over time"
            x={risk.map((r) => r.at / 1_000)}
            series={[{ label: 'risk', values: risk.map((r) => r.risk), color: '#d99a1c' }]}
            stepped
          />
        </>
      )}
      <h2>Calls</h2>
      <table className="table" aria-label="Tool calls of the session in order">
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Started</th>
            <th scope="col">Agent</th>
            <th scope="col">Tool</th>
            <th scope="col">PRE</th>
            <th scope="col">Decision</th>
            <th scope="col">POST</th>
            <th scope="col">Duration</th>
            <th scope="col">Rules / detectors</th>
          </tr>
        </thead>
        <tbody>
          {calls.map((c, i) => (
            <tr key={c.key} data-testid="call-row">
              <td>{i + 1}</td>
              <td>{formatTime(c.startedAt)}</td>
              <td>{c.agentId}</td>
              <td>{c.toolName}</td>
              <td>{c.pre ? '✓' : '—'}</td>
              <td>
                <DecisionBadge decision={c.decision?.decision} /> {c.decision?.reason_code ?? ''}
              </td>
              <td>{c.post ? '✓' : '—'}</td>
              <td>{c.durationMs === undefined ? '—' : `${c.durationMs} ms`}</td>
              <td>
                {[...c.matchedRules, ...c.others.map((o) => `${o.kind}:${o.event_type}`)].join(', ') || '—'}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <details>
        <summary>Raw timeline ({events.length} events)</summary>
        <JsonBlock value={events} label="Raw session timeline" />
      </details>
    </section>
  );
}
