import { mkdirSync, readdirSync, readFileSync, renameSync, truncateSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { asLine } from '../formats/formats.ts';
import { type DeliveryItem, type DeliveryResult, delivered, type Transport } from './transport.ts';

/**
 * Rotated NDJSON files for object-store shipping (S3, Security Lake): one formatted event per line. The file
 * being written is `<prefix>-<UTC time>-<seq>.ndjson.part`; once it reaches `maxBytes` or `maxAgeMs` it is
 * closed and renamed to `.ndjson`, so a shipper only ever picks up complete files. A batch is delivered once
 * its lines are written and fsync'ed. At start, a `.part` left by a crash is cut back to its last complete
 * line and closed the same way.
 */
export interface NdjsonFileOptions {
  dir: string;
  prefix: string;
  maxBytes: number;
  maxAgeMs: number;
  now?: () => number;
}

const PART = '.part';

export function ndjsonFileName(prefix: string, timeMs: number, seq: number): string {
  const stamp = new Date(timeMs).toISOString().replace(/[-:]/g, '').replace('.', '');
  return `${prefix}-${stamp}-${String(seq).padStart(6, '0')}.ndjson`;
}

export class NdjsonFileTransport implements Transport {
  private current: { handle: FileHandle; path: string; bytes: number; openedAt: number } | undefined;
  private seq = 0;
  /** Deliveries and rotations run one at a time. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly options: NdjsonFileOptions) {
    mkdirSync(options.dir, { recursive: true });
    this.recoverParts();
    // A quiet sink still closes its file on time.
    this.timer = setInterval(() => void this.serialize(() => this.rotateIfDue()).catch(() => {}), 1_000);
    this.timer.unref();
  }

  deliver(items: DeliveryItem[]): Promise<DeliveryResult> {
    return this.serialize(async () => {
      await this.rotateIfDue();
      const data = Buffer.from(items.map((i) => `${asLine(i.formatted)}\n`).join(''), 'utf8');
      const file = await this.openFile();
      await file.handle.write(data);
      await file.handle.datasync();
      file.bytes += data.length;
      if (file.bytes >= this.options.maxBytes) await this.rotate();
      return delivered;
    });
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.serialize(() => this.rotate());
  }

  /** Closes the current file and publishes it (rename off `.part`). */
  async rotate(): Promise<void> {
    const file = this.current;
    if (!file) return;
    this.current = undefined;
    await file.handle.close();
    renameSync(file.path, file.path.slice(0, -PART.length));
  }

  private async rotateIfDue(): Promise<void> {
    if (this.current && this.now() - this.current.openedAt >= this.options.maxAgeMs) await this.rotate();
  }

  private async openFile() {
    if (this.current) return this.current;
    const openedAt = this.now();
    const path = join(
      this.options.dir,
      `${ndjsonFileName(this.options.prefix, openedAt, this.seq++)}${PART}`,
    );
    this.current = { handle: await open(path, 'a'), path, bytes: 0, openedAt };
    return this.current;
  }

  private recoverParts(): void {
    for (const name of readdirSync(this.options.dir)) {
      if (!name.startsWith(`${this.options.prefix}-`) || !name.endsWith(PART)) continue;
      const path = join(this.options.dir, name);
      const content = readFileSync(path);
      const complete = content.lastIndexOf(0x0a) + 1;
      if (complete < content.length) truncateSync(path, complete);
      renameSync(path, path.slice(0, -PART.length));
    }
  }

  private serialize<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}
