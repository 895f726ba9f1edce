/**
 * What one HTTP request asks of ClickHouse, read the way ClickHouse's own HTTP handler reads it
 * (src/Server/HTTPHandler.cpp): pure functions, no I/O, so the rules are tested on their own.
 */

/** A ClickHouse exception: its code, its name (as in `(UNKNOWN_TABLE)`) and its message. */
export class ClickHouseException extends Error {
  constructor(
    readonly code: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

/** Codes of the exceptions this server raises itself (the engine raises every other). */
export const OWN_ERRORS = {
  BAD_ARGUMENTS: 36,
  NOT_IMPLEMENTED: 48,
  SYNTAX_ERROR: 62,
  UNKNOWN_SETTING: 115,
  SESSION_NOT_FOUND: 372,
  AUTHENTICATION_FAILED: 516,
} as const;

export function ownError(type: keyof typeof OWN_ERRORS, message: string): ClickHouseException {
  return new ClickHouseException(OWN_ERRORS[type], type, message);
}

export interface ClickHouseRequest {
  /** The query: the `query` parameter, a line break, then the body (HTTPHandler's rule). */
  sql: string;
  /** An `INSERT … FORMAT x` in the `query` parameter with its data in the body: the data stays bytes. */
  insert?: InsertWithData;
  database?: string;
  defaultFormat?: string;
  /** URL parameters that are neither reserved nor `param_*`: settings of this query, as text. */
  settings: Array<[string, string]>;
  /** `param_<name>` values, as text (the engine parses each with the type its placeholder declares). */
  params: Array<[string, string]>;
  queryId?: string;
  sessionId?: string;
  sessionTimeoutSeconds?: number;
  sessionCheck: boolean;
  closeSession: boolean;
  /** GET: only read-only queries (the server sets `readonly = 2`). */
  readOnly: boolean;
  user: string;
  password: string;
}

/** Parameters the handler itself reads: never settings. */
const RESERVED = new Set([
  'compress',
  'decompress',
  'user',
  'password',
  'quota_key',
  'query_id',
  'stacktrace',
  'buffer_size',
  'wait_end_of_query',
  'session_id',
  'session_timeout',
  'session_check',
  'client_protocol_version',
  'close_session',
]);

type Headers = Record<string, string | string[] | undefined>;

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

function truthy(value: string | undefined): boolean {
  return value !== undefined && ['1', 'true'].includes(value.toLowerCase());
}

/** Credentials, from `Authorization: Basic`, the `X-ClickHouse-User`/`-Key` headers, or `user`/`password`. */
function credentials(headers: Headers, url: URLSearchParams): { user: string; password: string } {
  const inParams = url.has('user') || url.has('password');
  const authorization = header(headers, 'authorization');
  const headerUser = header(headers, 'x-clickhouse-user');
  if ((authorization || headerUser !== undefined) && inParams) {
    throw ownError(
      'AUTHENTICATION_FAILED',
      'Invalid authentication: it is not allowed to use Authorization HTTP header and authentication via parameters simultaneously',
    );
  }
  if (headerUser !== undefined) {
    return { user: headerUser, password: header(headers, 'x-clickhouse-key') ?? '' };
  }
  if (authorization) {
    const [scheme, token = ''] = authorization.split(' ', 2);
    if (scheme?.toLowerCase() !== 'basic') {
      throw ownError(
        'AUTHENTICATION_FAILED',
        `Invalid authentication: '${scheme}' HTTP Authorization scheme is not supported`,
      );
    }
    const decoded = Buffer.from(token, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon < 0
      ? { user: decoded, password: '' }
      : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return { user: url.get('user') ?? 'default', password: url.get('password') ?? '' };
}

/** `session_timeout`: whole seconds (the server's parse); absent, undefined. */
function sessionTimeout(text: string | null): number | undefined {
  if (text === null) return undefined;
  if (!/^\d+$/.test(text)) throw ownError('BAD_ARGUMENTS', `Invalid session timeout: '${text}'`);
  return Number(text);
}

/** The fields of a `multipart/form-data` body (ClickHouse reads `query` and `param_*` from them). */
export function multipartFields(body: Buffer, contentType: string): Array<[string, string]> {
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const mark = boundary?.[1] ?? boundary?.[2];
  if (!mark) throw ownError('BAD_ARGUMENTS', 'multipart/form-data without a boundary');
  const fields: Array<[string, string]> = [];
  for (const part of body.toString('utf8').split(`--${mark}`).slice(1)) {
    if (part.startsWith('--')) break;
    const end = part.indexOf('\r\n\r\n');
    if (end < 0) continue;
    const head = part.slice(0, end);
    const name = /name="([^"]*)"/i.exec(head)?.[1];
    if (name === undefined) continue;
    if (/filename=/i.test(head)) {
      // External tables for query processing: not part of what @clickhouse/client sends.
      throw ownError('NOT_IMPLEMENTED', 'external data (file parts) is not supported by this test server');
    }
    fields.push([name, part.slice(end + 4).replace(/\r\n$/, '')]);
  }
  return fields;
}

/**
 * Reads a request: `url` its search parameters, `body` already decompressed. A multipart body carries the
 * query and its parameters as fields; any other body is the end of the query (an INSERT's data).
 */
export function readRequest(
  method: string,
  url: URLSearchParams,
  headers: Headers,
  body: Buffer,
): ClickHouseRequest {
  if (truthy(url.get('compress') ?? undefined) || truthy(url.get('decompress') ?? undefined)) {
    throw ownError('NOT_IMPLEMENTED', 'ClickHouse native compression (compress/decompress) is not supported');
  }
  if (url.has('role')) throw ownError('NOT_IMPLEMENTED', 'roles are not supported by this test server');
  const multipart = (header(headers, 'content-type') ?? '').startsWith('multipart/form-data');
  const { user, password } = credentials(headers, url);
  const request: ClickHouseRequest = {
    sql: '',
    database: header(headers, 'x-clickhouse-database') || undefined,
    defaultFormat: header(headers, 'x-clickhouse-format') || undefined,
    settings: [],
    params: [],
    queryId: url.get('query_id') || header(headers, 'x-clickhouse-query-id') || undefined,
    sessionId: url.get('session_id') || undefined,
    sessionTimeoutSeconds: sessionTimeout(url.get('session_timeout')),
    sessionCheck: truthy(url.get('session_check') ?? undefined),
    closeSession: truthy(url.get('close_session') ?? undefined),
    readOnly: method === 'GET',
    user,
    password,
  };
  const seenParams = new Set<string>();
  const addParam = (key: string, value: string) => {
    const name = key.slice('param_'.length);
    // The first value of a parameter wins (DynamicQueryHandler::customizeQueryParam).
    if (seenParams.has(name)) return;
    seenParams.add(name);
    request.params.push([name, value]);
  };
  let query = '';
  for (const [key, value] of url) {
    if (key === '' || RESERVED.has(key)) continue;
    if (key === 'query') query = value;
    else if (key === 'database') request.database ??= value || undefined;
    else if (key === 'default_format') request.defaultFormat ??= value || undefined;
    else if (key.startsWith('param_')) addParam(key, value);
    // With a multipart body the server skips these suffixes (a known quirk: `date_time_input_format` too).
    else if (multipart && /(_format|_types|_structure)$/.test(key)) continue;
    else request.settings.push([key, value]);
  }
  if (multipart) {
    for (const [key, value] of multipartFields(body, header(headers, 'content-type') ?? '')) {
      if (key === 'query') query += value;
      else if (key.startsWith('param_')) addParam(key, value);
    }
    request.sql = query;
  } else {
    request.insert = insertWithData(query, body);
    const text = request.insert ? '' : body.toString('utf8');
    request.sql = query === '' ? text : text === '' ? `${query}\n` : `${query}\n${text}`;
  }
  return request;
}

/** `INSERT INTO t [(a, b)] FORMAT f` followed by its data: what chDB's raw insert takes as bytes. */
export interface InsertWithData {
  table: string;
  columns?: string[];
  format: string;
  data: Buffer;
}

const INSERT_HEAD =
  /^\s*INSERT\s+INTO\s+(?:TABLE\s+)?([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)?)\s*(?:\(([A-Za-z0-9_,\s]*)\))?\s*FORMAT\s+([A-Za-z]+)\s*$/i;

/** chDB's raw insert takes these formats (its whitelist); any other insert runs as SQL text. */
const RAW_FORMATS = new Set([
  'JSONEachRow',
  'JSONCompactEachRow',
  'CSV',
  'CSVWithNames',
  'TSV',
  'TabSeparated',
  'TSVWithNames',
  'TabSeparatedWithNames',
]);

/** Binary input formats: their bytes cannot travel in SQL text, and chDB's raw insert does not take them. */
const BINARY_FORMAT =
  /^(RowBinary\w*|Native|Parquet|Arrow\w*|ORC|Avro\w*|Protobuf\w*|MsgPack|CapnProto|BSONEachRow|Npy)$/i;

/**
 * The insert a `query` parameter is, when its data (the body) can go to the engine as bytes; else undefined
 * (a text insert then runs as SQL text: the statement, a line break, the body).
 */
export function insertWithData(query: string, data: Buffer): InsertWithData | undefined {
  const head = INSERT_HEAD.exec(query);
  if (!head) return undefined;
  const [, table, columns, format] = head;
  if (format && BINARY_FORMAT.test(format) && data.length > 0) {
    throw ownError(
      'NOT_IMPLEMENTED',
      `inserting ${format} (a binary format) is not supported by this test server`,
    );
  }
  if (!table || !format || !RAW_FORMATS.has(format)) return undefined;
  return {
    table,
    columns: columns
      ?.split(',')
      .map((c) => c.trim())
      .filter((c) => c !== ''),
    format,
    data,
  };
}

/** The output format of a query: its own `FORMAT x` clause, else the default format, else TabSeparated. */
export function outputFormat(sql: string, defaultFormat: string | undefined): string | undefined {
  if (/^\s*INSERT\b/i.test(sql)) return undefined;
  const clause = /\bFORMAT\s+([A-Za-z0-9_]+)\s*;?\s*$/i.exec(sql);
  return clause?.[1] ?? defaultFormat ?? 'TabSeparated';
}

/** A ClickHouse string literal whose value is exactly `text` (backslash, quote and NUL escaped). */
export function stringLiteral(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\0/g, '\\0')}'`;
}

/** A setting or parameter name as SQL accepts it unquoted; anything else is refused, never interpolated. */
export function checkedName(name: string, what: 'setting' | 'parameter'): string {
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return name;
  throw what === 'setting'
    ? ownError('UNKNOWN_SETTING', `Unknown setting '${name}'`)
    : ownError('BAD_ARGUMENTS', `Invalid query parameter name '${name}'`);
}

/** `db` as a quoted identifier. */
export function identifier(name: string): string {
  return `\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
}

/** The HTTP status ClickHouse answers an exception with (src/Server/HTTP/exceptionCodeToHTTPStatus.cpp). */
export function httpStatus(type: string): number {
  if (type === 'REQUIRED_PASSWORD') return 401;
  if (STATUS_403.has(type)) return 403;
  if (STATUS_400.has(type)) return 400;
  if (STATUS_404.has(type)) return 404;
  return OTHER_STATUS[type] ?? 500;
}

const STATUS_403 = new Set([
  'UNKNOWN_USER',
  'WRONG_PASSWORD',
  'AUTHENTICATION_FAILED',
  'SET_NON_GRANTED_ROLE',
  'ACCESS_DENIED',
]);
const STATUS_400 = new Set([
  'BAD_ARGUMENTS',
  'CANNOT_COMPILE_REGEXP',
  'CANNOT_PARSE_TEXT',
  'CANNOT_PARSE_ESCAPE_SEQUENCE',
  'CANNOT_PARSE_QUOTED_STRING',
  'CANNOT_PARSE_DATE',
  'CANNOT_PARSE_DATETIME',
  'CANNOT_PARSE_NUMBER',
  'CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING',
  'CANNOT_PARSE_IPV4',
  'CANNOT_PARSE_IPV6',
  'CANNOT_PARSE_INPUT_ASSERTION_FAILED',
  'CANNOT_PARSE_UUID',
  'DUPLICATE_COLUMN',
  'ILLEGAL_COLUMN',
  'UNKNOWN_ELEMENT_IN_AST',
  'UNKNOWN_TYPE_OF_AST_NODE',
  'THERE_IS_NO_COLUMN',
  'TOO_DEEP_AST',
  'TOO_BIG_AST',
  'UNEXPECTED_AST_STRUCTURE',
  'SYNTAX_ERROR',
  'INCORRECT_DATA',
  'TYPE_MISMATCH',
  'VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE',
]);
const STATUS_404 = new Set([
  'UNKNOWN_TABLE',
  'UNKNOWN_FUNCTION',
  'UNKNOWN_IDENTIFIER',
  'UNKNOWN_TYPE',
  'UNKNOWN_STORAGE',
  'UNKNOWN_DATABASE',
  'UNKNOWN_SETTING',
  'UNKNOWN_DIRECTION_OF_SORTING',
  'UNKNOWN_AGGREGATE_FUNCTION',
  'UNKNOWN_FORMAT',
  'UNKNOWN_DATABASE_ENGINE',
  'UNKNOWN_TYPE_OF_QUERY',
  'UNKNOWN_ROLE',
]);
const OTHER_STATUS: Record<string, number> = {
  QUERY_IS_TOO_LARGE: 413,
  NOT_IMPLEMENTED: 501,
  SOCKET_TIMEOUT: 503,
  CANNOT_OPEN_FILE: 503,
  HTTP_LENGTH_REQUIRED: 411,
  TIMEOUT_EXCEEDED: 408,
  CANNOT_SCHEDULE_TASK: 503,
  UNSUPPORTED_MEDIA_TYPE: 415,
};

/** The response's Content-Type for an output format (a few common ones; text/plain otherwise, as the server). */
export function contentType(format: string | undefined): string {
  switch (format) {
    case 'JSON':
    case 'JSONCompact':
    case 'JSONStrings':
      return 'application/json; charset=UTF-8';
    case 'JSONEachRow':
    case 'JSONCompactEachRow':
    case 'JSONStringsEachRow':
      return 'application/x-ndjson; charset=UTF-8';
    case 'TabSeparated':
    case 'TSV':
    case 'TabSeparatedWithNames':
    case 'TSVWithNames':
      return 'text/tab-separated-values; charset=UTF-8';
    case 'CSV':
    case 'CSVWithNames':
      return 'text/csv; charset=UTF-8; header=absent';
    default:
      return 'text/plain; charset=UTF-8';
  }
}

/** Response compression the client accepts, in ClickHouse's order of preference (chooseHTTPCompressionMethod). */
export function responseEncoding(
  acceptEncoding: string | undefined,
  available: readonly string[],
): string | undefined {
  if (!acceptEncoding) return undefined;
  return ['zstd', 'br', 'gzip', 'deflate'].find((m) => available.includes(m) && acceptEncoding.includes(m));
}

/** The body of an error answer: `Code: N. DB::Exception: … (NAME) (version …)`, as the server writes it. */
export function exceptionBody(error: ClickHouseException, version: string): string {
  const text = error.message.startsWith('Code: ')
    ? error.message
    : `Code: ${error.code}. DB::Exception: ${error.message}. (${error.type})`;
  return /\(version [^)]*\)\s*$/.test(text) ? `${text}\n` : `${text} (version ${version})\n`;
}

/** The code and name of an engine error from its message (`Code: 60. DB::Exception: … (UNKNOWN_TABLE)`). */
export function parseEngineError(message: string): ClickHouseException {
  const code = /Code: (\d+)/.exec(message);
  const types = [...message.matchAll(/\(([A-Z0-9_]*[A-Z]{3}[A-Z0-9_]*)\)/g)];
  const type = types.at(-1)?.[1];
  if (!code || !type) return new ClickHouseException(1001, 'STD_EXCEPTION', message);
  return new ClickHouseException(Number(code[1]), type, message);
}
