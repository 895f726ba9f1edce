/**
 * JSON-RPC 2.0 as MCP uses it: reading one received text into messages, and the error answers the spec
 * prescribes. Pure.
 */

export type JsonObject = Record<string, unknown>;
export type JsonRpcId = string | number;

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  id: JsonRpcId;
  method: string;
  params?: unknown;
}
export interface JsonRpcNotification {
  jsonrpc: '2.0';
  method: string;
  params?: unknown;
}
export interface JsonRpcResponse {
  jsonrpc: '2.0';
  id: JsonRpcId | null;
  result?: unknown;
  error?: unknown;
}

export type ClassifiedMessage =
  | { kind: 'request'; message: JsonRpcRequest }
  | { kind: 'notification'; message: JsonRpcNotification }
  | { kind: 'response'; message: JsonRpcResponse };

/** One element of what was received: a message, or why it is not one (with its id when it had a usable one). */
export type ReadItem = ClassifiedMessage | { kind: 'invalid'; id: JsonRpcId | null; why: string };

/** One received text (a stdio line, an HTTP body, an SSE `data`). */
export type ReadResult =
  | { kind: 'unparseable'; why: string }
  | { kind: 'single'; item: ReadItem }
  | { kind: 'batch'; items: ReadItem[] };

export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const INVALID_PARAMS = -32602;
export const INTERNAL_ERROR = -32603;

export function readJsonRpc(text: string): ReadResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { kind: 'unparseable', why: (error as Error).message };
  }
  if (!Array.isArray(value)) return { kind: 'single', item: classify(value) };
  // JSON-RPC: an empty batch is one Invalid Request.
  if (value.length === 0) return { kind: 'single', item: { kind: 'invalid', id: null, why: 'empty batch' } };
  return { kind: 'batch', items: value.map(classify) };
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isId(value: unknown): value is JsonRpcId {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

function classify(value: unknown): ReadItem {
  if (!isObject(value)) return { kind: 'invalid', id: null, why: 'not a JSON object' };
  const id = isId(value.id) ? value.id : null;
  if (value.jsonrpc !== '2.0') return { kind: 'invalid', id, why: 'jsonrpc is not "2.0"' };
  if ('method' in value) {
    if (typeof value.method !== 'string') return { kind: 'invalid', id, why: 'method is not a string' };
    if (!('id' in value)) return { kind: 'notification', message: value as unknown as JsonRpcNotification };
    // MCP: a request id is a string or an integer, never null.
    if (id === null) return { kind: 'invalid', id: null, why: 'request id is not a string or number' };
    return { kind: 'request', message: value as unknown as JsonRpcRequest };
  }
  const hasResult = 'result' in value;
  const hasError = 'error' in value;
  if (hasResult === hasError) return { kind: 'invalid', id, why: 'neither a request nor a response' };
  if (!('id' in value) || (value.id !== null && !isId(value.id)))
    return { kind: 'invalid', id: null, why: 'response id is missing or not a string or number' };
  return { kind: 'response', message: value as unknown as JsonRpcResponse };
}

export function errorResponse(id: JsonRpcId | null, code: number, message: string): JsonRpcResponse {
  return { jsonrpc: '2.0', id, error: { code, message } };
}

/** The receiver's answers to what is not a message (JSON-RPC 2.0 §5.1). */
export function parseErrorAnswer(): JsonRpcResponse {
  return errorResponse(null, PARSE_ERROR, 'Parse error');
}

export function invalidRequestAnswer(item: { id: JsonRpcId | null; why: string }): JsonRpcResponse {
  return errorResponse(item.id, INVALID_REQUEST, `Invalid Request: ${item.why}`);
}

/** Map key of an id: `1` and `"1"` are different requests. */
export function idKey(id: JsonRpcId | null): string {
  return JSON.stringify(id);
}
