import { useQuery } from '@tanstack/react-query';
import { type ColumnDef, flexRender, getCoreRowModel, useReactTable } from '@tanstack/react-table';
import { useVirtualizer } from '@tanstack/react-virtual';
import {
  type FormEvent,
  type KeyboardEvent,
  memo,
  type ReactNode,
  useCallback,
  useEffect,
  useMemo,
  useRef,
  useState,
} from 'react';
import { DecisionBadge, ErrorNote, formatTime, JsonBlock, parseJsonField } from '../components.tsx';
import { api, query, type SessionInfo } from '../lib/api.ts';
import {
  FEED_FILTERS,
  type FeedFilters,
  type FeedRow,
  filtersFrom,
  MAX_FEED_ROWS,
  matchesFilters,
  mergeLive,
  rowFromApi,
  rowFromStream,
  syntheticRows,
} from '../lib/feed-model.ts';
import { navigate, withParams } from '../lib/router.ts';

const ROW_HEIGHT = 30;
const FLUSH_MS = 200;

/** How each column shows a row (used by the grid's rows directly; the column model is TanStack Table's). */
const GRID_CELLS: Record<string, (r: FeedRow) => ReactNode> = {
  at: (r) => formatTime(r.at),
  type: (r) => r.eventType,
  agent: (r) => r.agentId,
  tool: (r) => r.toolName,
  decision: (r) => <DecisionBadge decision={r.decision} />,
  reason: (r) => r.reasonCode ?? '',
  risk: (r) => r.riskScore,
  session: (r) => r.sessionId,
};

interface GridColumn {
  id: string;
  size: number;
  render: (r: FeedRow) => ReactNode;
}

const column = (id: string, header: string, size: number): ColumnDef<FeedRow> => ({
  id,
  header,
  size,
  cell: (c) => GRID_CELLS[id]?.(c.row.original),
});
const columns: ColumnDef<FeedRow>[] = [
  column('at', 'Time (UTC)', 215),
  column('type', 'Type', 150),
  column('agent', 'Agent', 170),
  column('tool', 'Tool', 140),
  column('decision', 'Decision', 100),
  column('reason', 'Reason code', 170),
  column('risk', 'Risk', 60),
  column('session', 'Session', 160),
];

const FILTER_LABELS: Record<(typeof FEED_FILTERS)[number], string> = {
  agent_id: 'Agent',
  tool_name: 'Tool',
  decision: 'Decision',
  reason_code: 'Reason code',
  session_id: 'Session',
  event_type: 'Event type',
  from: 'From (ISO time)',
  to: 'To (ISO time)',
  search: 'Text search',
};

/**
 * The live feed: the stored trail (feed API, filtered server-side) with the live tail (SSE) in front of it,
 * newest first, in a virtualized table (only the visible rows are in the DOM: 100k rows scroll smoothly).
 */
export function FeedView({ session, params }: { session: SessionInfo; params: URLSearchParams }) {
  const filters = useMemo(() => filtersFrom(params), [params]);
  const synthetic = Number(params.get('synthetic') ?? 0);
  const filterKey = JSON.stringify(filters);
  const stored = useQuery({
    queryKey: ['feed', session.tenant_id, filterKey],
    enabled: synthetic === 0,
    queryFn: async () =>
      (
        await api<{ data: Record<string, unknown>[]; total: number }>(
          `/${encodeURIComponent(session.tenant_id)}/thoth/governance/feed${query({ ...filters, per_page: 500 })}`,
        )
      ).data.map(rowFromApi),
  });

  const [live, setLive] = useState<FeedRow[]>([]);
  const [paused, setPaused] = useState(false);
  const [waiting, setWaiting] = useState(0);
  const [streamState, setStreamState] = useState<'connecting' | 'live' | 'error'>('connecting');
  const buffer = useRef<FeedRow[]>([]);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;

  // biome-ignore lint/correctness/useExhaustiveDependencies: a new filter set starts a new live view
  useEffect(() => {
    setLive([]);
    buffer.current = [];
    if (synthetic > 0) return;
    const source = new EventSource(`/v1/stream${query({ agent_id: filters.agent_id })}`);
    const onEvent = (type: string) => (message: MessageEvent<string>) => {
      const row = rowFromStream(type, JSON.parse(message.data) as Record<string, unknown>);
      if (matchesFilters(row, filters)) buffer.current.push(row);
    };
    source.addEventListener('decision', onEvent('decision'));
    source.addEventListener('event', onEvent('event'));
    source.onopen = () => setStreamState('live');
    source.onerror = () => setStreamState(source.readyState === EventSource.CLOSED ? 'error' : 'connecting');
    // Rows are applied in batches: one render per interval however fast they come.
    const timer = window.setInterval(() => {
      if (pausedRef.current) {
        setWaiting(buffer.current.length);
        return;
      }
      if (buffer.current.length === 0) return;
      const incoming = buffer.current;
      buffer.current = [];
      setWaiting(0);
      setLive((shown) => mergeLive(shown, incoming));
    }, FLUSH_MS);
    return () => {
      window.clearInterval(timer);
      source.close();
    };
  }, [filterKey, synthetic]);

  const rows = useMemo(() => {
    if (synthetic > 0) return syntheticRows(Math.min(synthetic, MAX_FEED_ROWS));
    const liveIds = new Set(live.map((r) => r.id));
    const merged = live.concat((stored.data ?? []).filter((r) => !liveIds.has(r.id)));
    return merged.length > MAX_FEED_ROWS ? merged.slice(0, MAX_FEED_ROWS) : merged;
  }, [live, stored.data, synthetic]);

  const [selected, setSelected] = useState<FeedRow | undefined>();
  const applyFilters = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    const next: Record<string, string | undefined> = {};
    for (const name of FEED_FILTERS) next[name] = String(data.get(name) ?? '').trim() || undefined;
    navigate(withParams('/feed', next), true);
  };

  return (
    <section className="feed" aria-labelledby="feed-title">
      <div className="view-head">
        <h1 id="feed-title">Live feed</h1>
        <span className={`stream stream-${streamState}`} data-testid="stream-state">
          {synthetic > 0 ? 'benchmark rows' : streamState}
        </span>
        <button type="button" onClick={() => setPaused(!paused)} aria-pressed={paused}>
          {paused ? `Resume${waiting ? ` (${waiting} new)` : ''}` : 'Pause'}
        </button>
        <span className="muted" data-testid="row-count">
          {rows.length.toLocaleString('en')} rows
        </span>
      </div>
      <form className="filters" onSubmit={applyFilters} aria-label="Feed filters" key={filterKey}>
        {FEED_FILTERS.map((name) => (
          <div key={name} className="field">
            <label htmlFor={`filter-${name}`}>{FILTER_LABELS[name]}</label>
            {name === 'decision' ? (
              <select id={`filter-${name}`} name={name} defaultValue={filters.decision ?? ''}>
                <option value="">any</option>
                {['ALLOW', 'BLOCK', 'STEP_UP', 'MODIFY', 'DEFER'].map((d) => (
                  <option key={d}>{d}</option>
                ))}
              </select>
            ) : (
              <input
                id={`filter-${name}`}
                name={name}
                defaultValue={filters[name as keyof FeedFilters] ?? ''}
              />
            )}
          </div>
        ))}
        <button type="submit">Apply</button>
        <button type="button" className="ghost" onClick={() => navigate('/feed', true)}>
          Clear
        </button>
      </form>
      <ErrorNote error={stored.error} />
      <div className="feed-body">
        <FeedGrid rows={rows} selectedId={selected?.id} onOpen={setSelected} />
        {selected && <RowDetail row={selected} onClose={() => setSelected(undefined)} />}
      </div>
    </section>
  );
}

/** Rows in the DOM at once, at most: row elements are reused by slot (index modulo this) while scrolling. */
const ROW_SLOTS = 256;

/**
 * The virtualized grid, a component of its own so a scroll re-renders it alone (not the filters above it), and
 * its rows are reused by slot: scrolling updates the text of existing rows instead of building new ones.
 */
const FeedGrid = memo(function FeedGrid({
  rows,
  selectedId,
  onOpen,
}: {
  rows: FeedRow[];
  selectedId: string | undefined;
  onOpen: (row: FeedRow) => void;
}) {
  const table = useReactTable({
    data: rows,
    columns,
    getCoreRowModel: getCoreRowModel(),
    getRowId: (r) => r.id,
  });
  const scroller = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 8,
    // Scroll updates render with React's own scheduling instead of a synchronous flush per scroll event.
    useFlushSync: false,
  });
  const tableRows = table.getRowModel().rows;
  const leafColumns = table.getVisibleLeafColumns();
  const gridColumns = useMemo(
    () =>
      leafColumns.map((c) => ({
        id: c.id,
        size: c.getSize(),
        render: GRID_CELLS[c.id] ?? (() => ''),
      })),
    [leafColumns],
  );
  const rowsRef = useRef(rows);
  rowsRef.current = rows;
  // Stable across renders, so a row re-renders only when its own props change (FeedGridRow is memo).
  const onRowKey = useCallback(
    (event: KeyboardEvent<HTMLDivElement>, index: number) => {
      const current = rowsRef.current;
      const move = event.key === 'ArrowDown' ? 1 : event.key === 'ArrowUp' ? -1 : 0;
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        const row = current[index];
        if (row) onOpen(row);
      } else if (move !== 0) {
        event.preventDefault();
        const next = Math.max(0, Math.min(current.length - 1, index + move));
        virtualizer.scrollToIndex(next);
        window.requestAnimationFrame(() =>
          scroller.current?.querySelector<HTMLElement>(`[data-index="${next}"]`)?.focus(),
        );
      }
    },
    [virtualizer, onOpen],
  );
  return (
    // biome-ignore lint/a11y/useSemanticElements: a virtualized grid of divs (a <table> cannot hold absolutely positioned rows)
    <div className="grid" role="grid" aria-rowcount={rows.length + 1} aria-label="Events and decisions">
      {/* biome-ignore lint/a11y/useSemanticElements: see the grid */}
      {/* biome-ignore lint/a11y/useFocusableInteractive: the header row is not a stop; data rows are */}
      <div className="grid-head" role="row">
        {table.getFlatHeaders().map((h) => (
          // biome-ignore lint/a11y/useSemanticElements: see the grid
          // biome-ignore lint/a11y/useFocusableInteractive: headers are not sortable, hence no stop
          <div key={h.id} role="columnheader" className="cell" style={{ width: h.getSize() }}>
            {flexRender(h.column.columnDef.header, h.getContext())}
          </div>
        ))}
      </div>
      <div className="grid-scroll" ref={scroller} data-testid="feed-scroll">
        <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
          {virtualizer.getVirtualItems().map((item) => {
            const row = tableRows[item.index];
            if (!row) return null;
            return (
              <FeedGridRow
                key={item.index % ROW_SLOTS}
                row={row.original}
                cells={gridColumns}
                index={item.index}
                start={item.start}
                selected={selectedId === row.id}
                onOpen={onOpen}
                onKey={onRowKey}
              />
            );
          })}
        </div>
      </div>
    </div>
  );
});

const FeedGridRow = memo(function FeedGridRow({
  row,
  cells,
  index,
  start,
  selected,
  onOpen,
  onKey,
}: {
  row: FeedRow;
  cells: readonly GridColumn[];
  index: number;
  start: number;
  selected: boolean;
  onOpen: (row: FeedRow) => void;
  onKey: (event: KeyboardEvent<HTMLDivElement>, index: number) => void;
}) {
  return (
    // biome-ignore lint/a11y/useSemanticElements: a row of the virtualized grid
    <div
      role="row"
      aria-rowindex={index + 2}
      data-index={index}
      data-testid="feed-row"
      tabIndex={0}
      className={`grid-row${selected ? ' selected' : ''}`}
      style={{ transform: `translateY(${start}px)`, height: ROW_HEIGHT }}
      onClick={() => onOpen(row)}
      onKeyDown={(e) => onKey(e, index)}
    >
      {/* Cells straight from the row: TanStack's per-cell objects would be kept for every row scrolled past. */}
      {cells.map((column) => (
        // biome-ignore lint/a11y/useSemanticElements: a cell of the virtualized grid
        // biome-ignore lint/a11y/useFocusableInteractive: the row is the keyboard stop (arrows move between rows)
        <div key={column.id} role="gridcell" className="cell" style={{ width: column.size }}>
          {column.render(row)}
        </div>
      ))}
    </div>
  );
});

/** A row's detail: redacted arguments, the decision envelope, its receipt and its chain link. */
function RowDetail({ row, onClose }: { row: FeedRow; onClose: () => void }) {
  const raw = row.raw;
  const record = (raw.record ?? raw) as Record<string, unknown>;
  const args = parseJsonField(record.tool_args_json ?? record.content ?? raw.content);
  return (
    <aside className="detail" aria-label="Row detail">
      <div className="view-head">
        <h2>{row.eventType}</h2>
        <button type="button" className="ghost" onClick={onClose} aria-label="Close detail">
          ✕
        </button>
      </div>
      <p>
        <DecisionBadge decision={row.decision} /> {row.toolName} by <strong>{row.agentId}</strong>
      </p>
      <p>
        <a
          href={`/console/sessions/${encodeURIComponent(row.sessionId)}`}
          onClick={(e) => {
            e.preventDefault();
            navigate(`/sessions/${encodeURIComponent(row.sessionId)}`);
          }}
        >
          Open session {row.sessionId}
        </a>
      </p>
      <h3>Arguments (redacted)</h3>
      <JsonBlock value={args ?? null} label="Redacted arguments" />
      {row.kind === 'decision' && (
        <>
          <h3>Decision envelope</h3>
          <JsonBlock
            value={{
              decision: row.decision,
              reason_code: row.reasonCode,
              reason: record.reason ?? row.content,
              risk_score: row.riskScore,
              matched_rule_ids: record.matched_rule_ids,
              enforcement_mode: record.enforcement_mode ?? raw.enforcement_mode,
              violation_id: record.violation_id ?? raw.violation_id,
              policy_version: record.policy_version,
            }}
            label="Decision envelope"
          />
          <h3>Receipt</h3>
          <JsonBlock
            value={{ key_id: record.receipt_key_id, signature: record.receipt_signature }}
            label="Receipt"
          />
        </>
      )}
      <h3>Chain link</h3>
      <JsonBlock
        value={{ chain_index: raw.chain_index, previous_hash: raw.previous_hash, hash: raw.hash }}
        label="Chain link"
      />
    </aside>
  );
}
