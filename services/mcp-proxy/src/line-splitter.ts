/**
 * MCP's stdio framing: one JSON-RPC message per line, `\n`-terminated. Lines are kept as bytes so a message
 * that passes through is written back byte for byte. A line longer than `maxLineBytes` is discarded up to
 * its newline (and reported) instead of growing the buffer without end. Pure.
 */
export type SplitItem = { kind: 'line'; bytes: Buffer } | { kind: 'oversized'; bytes: number };

export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Inside an oversized line: dropping until the next newline. */
  private discarding = 0;

  constructor(private readonly maxLineBytes = 64 * 1024 * 1024) {}

  push(chunk: Buffer): SplitItem[] {
    const items: SplitItem[] = [];
    let start = 0;
    for (let newline = chunk.indexOf(10, start); newline !== -1; newline = chunk.indexOf(10, start)) {
      const part = chunk.subarray(start, newline);
      start = newline + 1;
      if (this.discarding > 0) {
        items.push({ kind: 'oversized', bytes: this.discarding + part.length });
        this.discarding = 0;
        continue;
      }
      const bytes = this.pending.length === 0 ? part : Buffer.concat([...this.pending, part]);
      this.pending = [];
      this.pendingBytes = 0;
      if (bytes.length > this.maxLineBytes) items.push({ kind: 'oversized', bytes: bytes.length });
      else items.push({ kind: 'line', bytes });
    }
    const rest = chunk.subarray(start);
    if (rest.length === 0) return items;
    if (this.discarding > 0) this.discarding += rest.length;
    else if (this.pendingBytes + rest.length > this.maxLineBytes) {
      this.discarding = this.pendingBytes + rest.length;
      this.pending = [];
      this.pendingBytes = 0;
    } else {
      // Copied: the caller's chunk buffer may be reused by the stream.
      this.pending.push(Buffer.from(rest));
      this.pendingBytes += rest.length;
    }
    return items;
  }

  /** The unterminated tail when the stream ended (a last message without its newline). */
  end(): SplitItem[] {
    if (this.discarding > 0) return [{ kind: 'oversized', bytes: this.discarding }];
    if (this.pendingBytes === 0) return [];
    const bytes = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    return [{ kind: 'line', bytes }];
  }
}
