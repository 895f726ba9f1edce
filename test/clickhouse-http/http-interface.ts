import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import zlib from 'node:zlib';
import type { ChdbEngine } from './chdb-engine.ts';
import {
  ClickHouseException,
  type ClickHouseRequest,
  contentType,
  exceptionBody,
  httpStatus,
  outputFormat,
  ownError,
  readRequest,
  responseEncoding,
} from './request.ts';

export interface HttpInterfaceOptions {
  engine: ChdbEngine;
  /** The one user this server accepts (ClickHouse's `default` user with an empty password unless told). */
  user: string;
  password: string;
}

type Codec = { compress(data: Buffer): Buffer; decompress(data: Buffer): Buffer };

/** The encodings both ways; zstd only where this Node has it (22.15+). */
const CODECS: Record<string, Codec> = {
  gzip: { compress: (d) => zlib.gzipSync(d), decompress: (d) => zlib.gunzipSync(d) },
  deflate: { compress: (d) => zlib.deflateSync(d), decompress: (d) => zlib.inflateSync(d) },
  br: { compress: (d) => zlib.brotliCompressSync(d), decompress: (d) => zlib.brotliDecompressSync(d) },
};
const zstd = zlib as unknown as {
  zstdCompressSync?: (d: Buffer) => Buffer;
  zstdDecompressSync?: (d: Buffer) => Buffer;
};
if (zstd.zstdCompressSync && zstd.zstdDecompressSync) {
  CODECS.zstd = { compress: zstd.zstdCompressSync, decompress: zstd.zstdDecompressSync };
}

/**
 * The HTTP interface of ClickHouse, the part `@clickhouse/client` uses: `/ping`, and queries on `/` by GET or
 * POST (query in the `query` parameter and/or the body, settings and `param_*` in the URL or a multipart body),
 * compressed either way, answered with ClickHouse's headers and, on error, its status codes and error text.
 */
export function clickHouseHttpHandler(options: HttpInterfaceOptions) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    handle(options, req, res).catch((error: unknown) => {
      // Only a failure to write the answer reaches here: the connection is of no further use.
      res.destroy(error instanceof Error ? error : new Error(String(error)));
    });
  };
}

async function handle(
  options: HttpInterfaceOptions,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://clickhouse');
  res.setHeader('X-ClickHouse-Server-Display-Name', 'thoth-test-clickhouse');
  if (
    url.pathname === '/ping' ||
    (url.pathname === '/' && req.method === 'GET' && !url.searchParams.has('query'))
  ) {
    await drain(req);
    res.writeHead(200, { 'Content-Type': 'text/html; charset=UTF-8' }).end('Ok.\n');
    return;
  }
  if (url.pathname !== '/' || (req.method !== 'GET' && req.method !== 'POST')) {
    await drain(req);
    res
      .writeHead(404, { 'Content-Type': 'text/plain; charset=UTF-8' })
      .end(`There is no handle ${url.pathname}\n\nUse / or /ping for health checks.\n`);
    return;
  }
  let request: ClickHouseRequest;
  try {
    const body = decompressBody(await readBody(req), String(req.headers['content-encoding'] ?? ''));
    request = readRequest(req.method, url.searchParams, req.headers, body);
    if (request.user !== options.user || request.password !== options.password) {
      throw ownError(
        'AUTHENTICATION_FAILED',
        `${request.user}: Authentication failed: password is incorrect, or there is no user with such name`,
      );
    }
  } catch (error) {
    // Before the query context exists the server answers uncompressed.
    sendError(res, asException(error), options.engine.version, undefined);
    return;
  }
  const queryId = request.queryId ?? randomUUID();
  const enabled = request.settings.some(
    ([k, v]) => k === 'enable_http_compression' && ['1', 'true'].includes(v),
  );
  const encoding = enabled
    ? responseEncoding(String(req.headers['accept-encoding'] ?? ''), Object.keys(CODECS))
    : undefined;
  try {
    const outcome = await options.engine.run(request);
    const format = outputFormat(request.sql, request.defaultFormat);
    const headers: Record<string, string> = {
      'Content-Type': contentType(format),
      'X-ClickHouse-Query-Id': queryId,
      'X-ClickHouse-Timezone': options.engine.timezone,
      'X-ClickHouse-Summary': JSON.stringify(outcome.summary),
    };
    if (format) headers['X-ClickHouse-Format'] = format;
    let body: Buffer = outcome.body;
    if (encoding) {
      headers['Content-Encoding'] = encoding;
      body = CODECS[encoding]!.compress(body);
    }
    res.writeHead(200, headers).end(body);
  } catch (error) {
    sendError(res, asException(error), options.engine.version, encoding);
  }
}

function sendError(
  res: ServerResponse,
  error: ClickHouseException,
  version: string,
  encoding: string | undefined,
): void {
  const headers: Record<string, string> = {
    'Content-Type': 'text/plain; charset=UTF-8',
    'X-ClickHouse-Exception-Code': String(error.code),
  };
  let body: Buffer = Buffer.from(exceptionBody(error, version));
  if (encoding) {
    headers['Content-Encoding'] = encoding;
    body = CODECS[encoding]!.compress(body);
  }
  res.writeHead(httpStatus(error.type), headers).end(body);
}

function asException(error: unknown): ClickHouseException {
  if (error instanceof ClickHouseException) return error;
  return new ClickHouseException(
    1001,
    'STD_EXCEPTION',
    error instanceof Error ? error.message : String(error),
  );
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function drain(req: IncomingMessage): Promise<void> {
  for await (const _ of req);
}

/** The body as sent before `Content-Encoding` (ClickHouse decompresses a request body the same way). */
function decompressBody(body: Buffer, encoding: string): Buffer {
  const method = encoding.trim().toLowerCase();
  if (method === '' || method === 'identity' || body.length === 0) return body;
  const codec = CODECS[method === 'x-gzip' ? 'gzip' : method];
  if (!codec) throw ownError('BAD_ARGUMENTS', `Unknown compression method '${encoding}'`);
  try {
    return codec.decompress(body);
  } catch (error) {
    throw new ClickHouseException(
      354,
      'ZLIB_INFLATE_FAILED',
      `cannot decompress the request body (${method}): ${(error as Error).message}`,
    );
  }
}
