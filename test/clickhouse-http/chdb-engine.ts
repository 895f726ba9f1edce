import { Session } from 'chdb';
import {
  ClickHouseException,
  type ClickHouseRequest,
  checkedName,
  identifier,
  ownError,
  parseEngineError,
  stringLiteral,
} from './request.ts';

/** What the server reports of a query in `X-ClickHouse-Summary` (every value a decimal string, as ClickHouse). */
export type QuerySummary = Record<
  | 'read_rows'
  | 'read_bytes'
  | 'written_rows'
  | 'written_bytes'
  | 'total_rows_to_read'
  | 'result_bytes'
  | 'elapsed_ns',
  string
>;

export interface QueryOutcome {
  body: Buffer;
  summary: QuerySummary;
}

/** A `session_id`'s own engine connection: its settings, current database and temporary tables. */
interface NamedSession {
  session: Session;
  timer?: NodeJS.Timeout;
}

/** chDB enables `implicit_select` (clickhouse-local's default); a server does not. Set on every new connection. */
const SERVER_DEFAULTS = 'implicit_select = 0';

/** ClickHouse's default `session_timeout` (seconds) and its upper bound (`max_session_timeout`). */
const DEFAULT_SESSION_TIMEOUT_S = 60;
const MAX_SESSION_TIMEOUT_S = 3_600;

/**
 * The real ClickHouse engine (chDB) behind the HTTP interface, one data directory, one process.
 *
 * Each request runs on a connection of its own, as each HTTP request gets a query context of its own on a
 * server: its database, settings and parameters (applied as `USE`/`SET` statements) end with it. A `session_id`
 * keeps its connection (and so its `SET`s, `USE` and temporary tables) until it times out. Requests run one at a
 * time, in arrival order: chDB must stay on this thread, and the `SET`s of one request must not interleave with
 * another's statements.
 */
export class ChdbEngine {
  private tail: Promise<unknown> = Promise.resolve();
  private readonly sessions = new Map<string, NamedSession>();
  private closed = false;

  private constructor(
    private readonly path: string,
    private readonly base: Session,
    readonly version: string,
    readonly timezone: string,
  ) {}

  static async open(path: string): Promise<ChdbEngine> {
    // One connection held open for the process's life keeps the engine loaded between requests.
    const base = new Session(path);
    const [version = '', timezone = 'UTC'] = (
      await base.queryAsync('SELECT version(), timezone()', { format: 'TSV' })
    )
      .text()
      .trim()
      .split('\t');
    return new ChdbEngine(path, base, version, timezone);
  }

  /** Runs one request after those before it. Rejects with a ClickHouseException. */
  run(request: ClickHouseRequest): Promise<QueryOutcome> {
    const result = this.tail.then(() => this.runNow(request));
    this.tail = result.catch(() => undefined);
    return result;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.tail;
    for (const named of this.sessions.values()) {
      clearTimeout(named.timer);
      named.session.close();
    }
    this.sessions.clear();
    this.base.close();
  }

  private async runNow(request: ClickHouseRequest): Promise<QueryOutcome> {
    if (this.closed) throw ownError('NOT_IMPLEMENTED', 'the server is shutting down');
    const named = request.sessionId ? await this.namedSession(request) : undefined;
    const session = named ?? new Session(this.path);
    try {
      // A session keeps what its own statements changed; what this request's URL changed ends with it.
      const restore = named ? await this.snapshot(session, request) : undefined;
      try {
        await this.apply(session, request, named === undefined);
        return await this.execute(session, request);
      } finally {
        await restore?.();
      }
    } catch (error) {
      throw asClickHouseException(error);
    } finally {
      if (!named) session.close();
      else if (request.closeSession) this.closeSession(request.sessionId!);
    }
  }

  private async namedSession(request: ClickHouseRequest): Promise<Session> {
    const id = request.sessionId!;
    let named = this.sessions.get(id);
    if (!named) {
      if (request.sessionCheck) throw ownError('SESSION_NOT_FOUND', `Session ${id} not found`);
      named = { session: new Session(this.path) };
      await named.session.queryAsync(`SET ${SERVER_DEFAULTS}`);
      this.sessions.set(id, named);
    }
    clearTimeout(named.timer);
    const seconds = Math.min(
      request.sessionTimeoutSeconds ?? DEFAULT_SESSION_TIMEOUT_S,
      MAX_SESSION_TIMEOUT_S,
    );
    named.timer = setTimeout(() => {
      // Through the queue: never under a running request.
      this.tail = this.tail.then(() => this.closeSession(id));
    }, seconds * 1_000).unref();
    return named.session;
  }

  private closeSession(id: string): void {
    const named = this.sessions.get(id);
    if (!named) return;
    clearTimeout(named.timer);
    named.session.close();
    this.sessions.delete(id);
  }

  /** Statements that give the connection this request's database, settings and parameters. */
  private async apply(session: Session, request: ClickHouseRequest, fresh: boolean): Promise<void> {
    if (request.database) await session.queryAsync(`USE ${identifier(request.database)}`);
    const assignments = [
      ...(fresh ? [SERVER_DEFAULTS] : []),
      // A GET runs read-only queries only (`readonly = 2`: settings may still change). On a session that could
      // not be undone (readonly forbids changing readonly), so a session's GET is not restricted.
      ...(fresh && request.readOnly ? ['readonly = 2'] : []),
      ...request.settings.map(([name, value]) => `${checkedName(name, 'setting')} = ${stringLiteral(value)}`),
      // `SET param_x` binds a query parameter from its text exactly as a `param_x` URL parameter does.
      ...request.params.map(
        ([name, value]) => `param_${checkedName(name, 'parameter')} = ${stringLiteral(value)}`,
      ),
    ];
    if (assignments.length > 0) await session.queryAsync(`SET ${assignments.join(', ')}`);
  }

  /** How to put back the settings and database this request's URL changes on a session's connection. */
  private async snapshot(session: Session, request: ClickHouseRequest): Promise<() => Promise<void>> {
    const names = request.settings.map(([name]) => checkedName(name, 'setting'));
    const [database] = (await session.queryAsync('SELECT currentDatabase()', { format: 'TSV' }))
      .text()
      .split('\n');
    const before =
      names.length === 0
        ? []
        : (
            await session.queryAsync(
              `SELECT name, value, changed FROM system.settings WHERE name IN (${names.map(stringLiteral).join(', ')})`,
              { format: 'JSONEachRow' },
            )
          )
            .text()
            .split('\n')
            .filter((line) => line !== '')
            .map((line) => JSON.parse(line) as { name: string; value: string; changed: number });
    return async () => {
      const assignments = before.map((s) =>
        Number(s.changed) ? `${s.name} = ${stringLiteral(s.value)}` : `${s.name} = DEFAULT`,
      );
      if (assignments.length > 0) await session.queryAsync(`SET ${assignments.join(', ')}`);
      if (request.database && database) await session.queryAsync(`USE ${identifier(database)}`);
    };
  }

  private async execute(session: Session, request: ClickHouseRequest): Promise<QueryOutcome> {
    const started = process.hrtime.bigint();
    const elapsed = () => String(process.hrtime.bigint() - started);
    if (request.insert) {
      const { table, columns, format, data } = request.insert;
      // An empty body inserts nothing; a server answers it as a success (chDB alone would say NO_DATA_TO_INSERT).
      const written =
        data.length === 0
          ? { rowsWritten: 0, bytesWritten: 0 }
          : await session.insert({
              table,
              values: data,
              format: format as 'JSONEachRow',
              ...(columns && columns.length > 0 ? { columns } : {}),
            });
      return {
        body: Buffer.alloc(0),
        summary: summary(
          { written_rows: written.rowsWritten, written_bytes: written.bytesWritten },
          elapsed(),
        ),
      };
    }
    if (request.sql.trim() === '') throw ownError('SYNTAX_ERROR', 'Empty query');
    const result = await session.queryAsync(request.sql, { format: request.defaultFormat ?? 'TabSeparated' });
    const body = Buffer.from(result.bytes());
    return {
      body,
      summary: summary(
        { read_rows: result.rowsRead, read_bytes: result.bytesRead, result_bytes: body.length },
        elapsed(),
      ),
    };
  }
}

function summary(counts: Partial<Record<keyof QuerySummary, number>>, elapsedNs: string): QuerySummary {
  const text = (n: number | undefined) => String(n ?? 0);
  return {
    read_rows: text(counts.read_rows),
    read_bytes: text(counts.read_bytes),
    written_rows: text(counts.written_rows),
    written_bytes: text(counts.written_bytes),
    total_rows_to_read: text(counts.total_rows_to_read),
    result_bytes: text(counts.result_bytes),
    elapsed_ns: elapsedNs,
  };
}

function asClickHouseException(error: unknown): ClickHouseException {
  if (error instanceof ClickHouseException) return error;
  return parseEngineError(error instanceof Error ? error.message : String(error));
}
