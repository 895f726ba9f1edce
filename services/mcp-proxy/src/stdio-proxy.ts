import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import {
  type ClassifiedMessage,
  errorResponse,
  INVALID_REQUEST,
  invalidRequestAnswer,
  parseErrorAnswer,
  readJsonRpc,
} from './json-rpc.ts';
import { LineSplitter, type SplitItem } from './line-splitter.ts';
import type { McpSessionGovernor } from './mcp-session-governor.ts';
import type { GovernanceOptions } from './proxy-options.ts';
import { ProxyRuntime } from './proxy-runtime.ts';

export interface StdioProxyIo {
  stdin: Readable;
  stdout: Writable;
  warn(message: string): void;
  env: Record<string, string | undefined>;
}

const NEWLINE = Buffer.from('\n');
/** Credentials of Thoth stay with the proxy: the governed server is exactly what should not hold them. */
const WITHHELD_FROM_SERVER = ['THOTH_API_KEY', 'THOTH_ADMIN_TOKEN'];
// As the MCP SDK clients wait for a stdio server before SIGTERM.
const CHILD_EXIT_GRACE_MS = 2_000;

/**
 * `thoth mcp proxy -- <command> [args…]`: runs the MCP server as a child and sits on the stdio pipe between
 * the client (our stdin/stdout) and it. Resolves with the exit code to leave with (the server's).
 *
 * stdout carries only JSON-RPC messages: lines passed on byte for byte, or messages the proxy serialized.
 * What the server writes that is not a JSON-RPC message is dropped with a warning on stderr.
 */
export async function runStdioProxy(
  options: GovernanceOptions,
  command: string,
  args: string[],
  io: StdioProxyIo,
): Promise<number> {
  const runtime = new ProxyRuntime(options, io.warn);
  const session = runtime.session(options.sessionId);
  const childEnv = { ...io.env };
  for (const name of WITHHELD_FROM_SERVER) delete childEnv[name];
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'], env: childEnv });

  let clientGone = false;
  const toClient = (bytes: Buffer | string) => {
    if (!clientGone) io.stdout.write(bytes);
  };
  io.stdout.on('error', () => {
    // The client closed its end: nobody is left to serve.
    clientGone = true;
    child.kill('SIGTERM');
  });
  const toServer = (bytes: Buffer | string) => {
    if (child.stdin.writable) child.stdin.write(bytes);
  };
  child.stdin.on('error', (error) => io.warn(`[thoth] cannot write to the MCP server: ${error.message}`));

  const fromClient = new ClientSide(session, toClient, toServer, io.warn);
  const fromServer = new ServerSide(session, toClient, io.warn);
  const clientLines = new LineSplitter();
  const serverLines = new LineSplitter();
  io.stdin.on('data', (chunk: Buffer) => fromClient.items(clientLines.push(chunk)));
  io.stdin.on('end', () => {
    fromClient.items(clientLines.end());
    child.stdin.end();
    // A server that does not exit when its input closes is stopped (MCP's stdio shutdown sequence).
    setTimeout(() => child.kill('SIGTERM'), CHILD_EXIT_GRACE_MS).unref();
  });
  io.stdin.on('error', () => child.stdin.end());
  child.stdout.on('data', (chunk: Buffer) => fromServer.items(serverLines.push(chunk)));
  child.stdout.on('end', () => fromServer.items(serverLines.end()));

  const forwardSignal = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forwardSignal);
  process.on('SIGTERM', forwardSignal);

  const code = await new Promise<number>((resolve) => {
    child.on('error', (error) => {
      io.warn(`[thoth] cannot start the MCP server "${command}": ${error.message}`);
      resolve(127);
    });
    child.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 128 + signalNumber(signal) : 1)));
  });
  process.off('SIGINT', forwardSignal);
  process.off('SIGTERM', forwardSignal);
  session.close();
  io.stdin.destroy();
  await runtime.close();
  return code;
}

/** Client → server: everything passes on, except what Thoth must decide and what cannot be read. */
class ClientSide {
  constructor(
    private readonly session: McpSessionGovernor,
    private readonly toClient: (bytes: Buffer | string) => void,
    private readonly toServer: (bytes: Buffer | string) => void,
    private readonly warn: (message: string) => void,
  ) {}

  items(items: SplitItem[]): void {
    for (const item of items) {
      if (item.kind === 'oversized') {
        this.warn(`[thoth] dropped a ${item.bytes}-byte line from the client (too long)`);
        this.reply(errorResponse(null, INVALID_REQUEST, 'Invalid Request: message too large'));
      } else this.line(item.bytes);
    }
  }

  private line(bytes: Buffer): void {
    const text = bytes.toString('utf8');
    if (text.trim() === '') return;
    const read = readJsonRpc(text);
    // What the proxy cannot read it does not pass on: the server might read it differently, and a
    // `tools/call` must never reach it undecided. JSON-RPC's answer to the sender instead.
    if (read.kind === 'unparseable') this.reply(parseErrorAnswer());
    else if (read.kind === 'single') {
      if (read.item.kind === 'invalid') this.reply(invalidRequestAnswer(read.item));
      else this.message(read.item, Buffer.concat([bytes, NEWLINE]));
    } else {
      // Batches (MCP 2025-03-26) are split: each message is decided on its own.
      for (const item of read.items) {
        if (item.kind === 'invalid') this.reply(invalidRequestAnswer(item));
        else this.message(item, undefined);
      }
    }
  }

  private message(item: ClassifiedMessage, raw: Buffer | undefined): void {
    const action = this.session.fromClient(item, (progress) => this.reply(progress));
    if (action.kind === 'forward') this.toServer(raw ?? `${JSON.stringify(item.message)}\n`);
    else if (action.kind === 'reply') this.reply(action.message);
    else
      void action.outcome.then((outcome) => {
        if (outcome.kind === 'forward') this.toServer(`${JSON.stringify(outcome.message)}\n`);
        else if (outcome.kind === 'reply') this.reply(outcome.message);
      });
  }

  private reply(message: object): void {
    this.toClient(`${JSON.stringify(message)}\n`);
  }
}

/** Server → client: JSON-RPC messages pass on (tool lists filtered); anything else never reaches stdout. */
class ServerSide {
  constructor(
    private readonly session: McpSessionGovernor,
    private readonly toClient: (bytes: Buffer | string) => void,
    private readonly warn: (message: string) => void,
  ) {}

  items(items: SplitItem[]): void {
    for (const item of items) {
      if (item.kind === 'oversized')
        this.warn(`[thoth] dropped a ${item.bytes}-byte line from the server (too long)`);
      else this.line(item.bytes);
    }
  }

  private line(bytes: Buffer): void {
    const text = bytes.toString('utf8');
    if (text.trim() === '') return;
    const read = readJsonRpc(text);
    if (read.kind === 'unparseable')
      this.warn(`[thoth] dropped a non-JSON line from the server: ${preview(text)}`);
    else if (read.kind === 'single') {
      if (read.item.kind !== 'invalid') this.message(read.item, Buffer.concat([bytes, NEWLINE]));
      else
        this.warn(
          `[thoth] dropped an invalid JSON-RPC message from the server (${read.item.why}): ${preview(text)}`,
        );
    } else {
      for (const item of read.items) {
        if (item.kind !== 'invalid') this.message(item, undefined);
        else this.warn(`[thoth] dropped an invalid JSON-RPC message from the server (${item.why})`);
      }
    }
  }

  private message(item: ClassifiedMessage, raw: Buffer | undefined): void {
    const action = this.session.fromServer(item);
    if (action.kind === 'forward') this.toClient(raw ?? `${JSON.stringify(item.message)}\n`);
    else this.toClient(`${JSON.stringify(action.message)}\n`);
  }
}

function preview(text: string): string {
  return JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text);
}

function signalNumber(signal: NodeJS.Signals): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return numbers[signal] ?? 0;
}
