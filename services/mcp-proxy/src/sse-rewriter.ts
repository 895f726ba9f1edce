import { StringDecoder } from 'node:string_decoder';

/**
 * Server-Sent Events passing through the HTTP proxy, one event at a time. Each complete event's `data` goes to
 * `rewriteData`, which keeps it (`undefined`), replaces it (a string), or drops the event (`null`). A kept
 * event is written back exactly as received (its `id:` lines carry MCP's resumability); a replaced one keeps
 * its other fields with one new `data:` line. Pure apart from holding the unfinished event.
 */
export type DataRewrite = (data: string) => string | undefined | null;

export class SseRewriter {
  private readonly decoder = new StringDecoder('utf8');
  private buffered = '';
  private eventLines: string[] = [];

  constructor(private readonly rewriteData: DataRewrite) {}

  /** The text to send on for this chunk (possibly empty while an event is incomplete). */
  push(chunk: Buffer): string {
    this.buffered += this.decoder.write(chunk);
    let out = '';
    for (let newline = this.buffered.indexOf('\n'); newline !== -1; newline = this.buffered.indexOf('\n')) {
      const line = this.buffered.slice(0, newline + 1);
      this.buffered = this.buffered.slice(newline + 1);
      this.eventLines.push(line);
      if (line === '\n' || line === '\r\n') out += this.flushEvent();
    }
    return out;
  }

  /** At the end of the stream: an unterminated event is passed on as it is. */
  end(): string {
    const rest = this.eventLines.join('') + this.buffered + this.decoder.end();
    this.eventLines = [];
    this.buffered = '';
    return rest;
  }

  private flushEvent(): string {
    const lines = this.eventLines;
    this.eventLines = [];
    const dataLines = lines.filter((line) => line.startsWith('data:'));
    if (dataLines.length === 0) return lines.join('');
    const data = dataLines.map((line) => stripEol(line).slice(5).replace(/^ /, '')).join('\n');
    const rewritten = this.rewriteData(data);
    if (rewritten === undefined) return lines.join('');
    if (rewritten === null) return '';
    let replaced = false;
    return lines
      .flatMap((line) => {
        if (!line.startsWith('data:')) return [line];
        if (replaced) return [];
        replaced = true;
        return [`data: ${rewritten}\n`];
      })
      .join('');
  }
}

/** One MCP message as an SSE event, as the SDK servers frame them. */
export function sseEvent(data: string): string {
  return `event: message\ndata: ${data}\n\n`;
}

function stripEol(line: string): string {
  return line.replace(/\r?\n$/, '');
}
