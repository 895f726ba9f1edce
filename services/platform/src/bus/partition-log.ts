import {
  closeSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import type { Headers } from './bus.ts';
import { Signal } from './signal.ts';

/** One stored message of the in-process bus. Offsets are numbers here; the Bus interface shows strings. */
export interface StoredRecord {
  offset: number;
  timestamp: number;
  key: string;
  value: Buffer | null;
  headers: Headers;
}

/**
 * One partition of the in-process bus: an in-memory array mirrored to an append-only file, so an embedded
 * process killed with -9 keeps every message whose publish had resolved (the write reached the kernel).
 *
 * File format, one frame per record: u32 frame length, then f64 offset, f64 timestamp, u32 key length, key,
 * u32 headers length, headers JSON, i32 value length (-1 = null), value. A torn last frame (the process died
 * mid-write) is cut off at load.
 */
export class PartitionLog {
  readonly appended = new Signal();
  private records: StoredRecord[] = [];
  private nextOffset = 0;
  private file: FileHandle | undefined;
  private writeChain: Promise<void> = Promise.resolve();
  private readonly listeners = new Set<(records: StoredRecord[]) => void>();

  private constructor() {}

  /** Opens (or creates) a partition. `keep` may drop records at load: compaction and retention happen here. */
  static async open(
    path: string | undefined,
    keep: (records: StoredRecord[]) => StoredRecord[] = (r) => r,
  ): Promise<PartitionLog> {
    const log = new PartitionLog();
    if (path) {
      mkdirSync(path.slice(0, path.lastIndexOf('/')), { recursive: true });
      const loaded = existsSync(path) ? readFrames(path) : { records: [], validBytes: 0 };
      log.nextOffset = loaded.records.length ? loaded.records[loaded.records.length - 1]!.offset + 1 : 0;
      const kept = keep(loaded.records);
      if (kept.length !== loaded.records.length) {
        // Rewrite without the dropped records; offsets are stored per record so they survive the rewrite.
        writeFileSync(`${path}.tmp`, Buffer.concat(kept.map(encodeFrame)));
        renameSync(`${path}.tmp`, path);
      } else if (existsSync(path)) {
        const fd = openSync(path, 'r+');
        ftruncateSync(fd, loaded.validBytes);
        closeSync(fd);
      }
      log.records = kept;
      log.file = await open(path, 'a');
    }
    return log;
  }

  get startOffset(): number {
    return this.records[0]?.offset ?? this.nextOffset;
  }

  get endOffset(): number {
    return this.nextOffset;
  }

  /** Appends in order; resolves when the records are in the file (and visible to readers). */
  append(items: Array<Omit<StoredRecord, 'offset'>>): Promise<void> {
    const records = items.map((item) => ({ ...item, offset: this.nextOffset++ }));
    const frames = this.file ? Buffer.concat(records.map(encodeFrame)) : undefined;
    const file = this.file;
    const write = this.writeChain.then(async () => {
      if (file && frames) await file.write(frames);
      for (const r of records) this.records.push(r);
      for (const listener of this.listeners) listener(records);
      this.appended.notify();
    });
    this.writeChain = write.catch(() => undefined);
    return write;
  }

  /** Up to `max` records from offset `from`, and no more than `maxBytes` of values (but at least one record). */
  read(from: number, max: number, maxBytes = Number.POSITIVE_INFINITY): StoredRecord[] {
    const first = this.records[0];
    if (!first) return [];
    const start = Math.max(0, from - first.offset);
    let end = Math.min(this.records.length, start + max);
    let bytes = 0;
    for (let i = start; i < end; i++) {
      bytes += this.records[i]!.value?.length ?? 0;
      if (bytes > maxBytes && i > start) end = i;
    }
    return this.records.slice(start, end);
  }

  /** Every record currently held, then every later append, until the returned function is called. */
  follow(listener: (records: StoredRecord[]) => void): () => void {
    listener(this.records.slice());
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Drops records below `offset` from memory (they stay in the file until the next start). */
  trimBelow(offset: number): void {
    const first = this.records[0];
    if (!first || offset <= first.offset) return;
    this.records = this.records.slice(Math.min(this.records.length, offset - first.offset));
  }

  async close(): Promise<void> {
    await this.writeChain;
    await this.file?.close();
    this.file = undefined;
  }
}

function encodeFrame(r: StoredRecord): Buffer {
  const key = Buffer.from(r.key);
  const headers = Buffer.from(JSON.stringify(r.headers));
  const valueLength = r.value ? r.value.length : 0;
  const bodyLength = 8 + 8 + 4 + key.length + 4 + headers.length + 4 + valueLength;
  const buf = Buffer.allocUnsafe(4 + bodyLength);
  let o = buf.writeUInt32BE(bodyLength, 0);
  o = buf.writeDoubleBE(r.offset, o);
  o = buf.writeDoubleBE(r.timestamp, o);
  o = buf.writeUInt32BE(key.length, o);
  o += key.copy(buf, o);
  o = buf.writeUInt32BE(headers.length, o);
  o += headers.copy(buf, o);
  o = buf.writeInt32BE(r.value ? r.value.length : -1, o);
  if (r.value) r.value.copy(buf, o);
  return buf;
}

function readFrames(path: string): { records: StoredRecord[]; validBytes: number } {
  const data = readFileSync(path);
  const records: StoredRecord[] = [];
  let pos = 0;
  while (pos + 4 <= data.length) {
    const bodyLength = data.readUInt32BE(pos);
    if (pos + 4 + bodyLength > data.length) break; // torn write at the end
    let o = pos + 4;
    const offset = data.readDoubleBE(o);
    const timestamp = data.readDoubleBE(o + 8);
    o += 16;
    const keyLength = data.readUInt32BE(o);
    const key = data.toString('utf8', o + 4, o + 4 + keyLength);
    o += 4 + keyLength;
    const headersLength = data.readUInt32BE(o);
    const headers = JSON.parse(data.toString('utf8', o + 4, o + 4 + headersLength)) as Headers;
    o += 4 + headersLength;
    const valueLength = data.readInt32BE(o);
    const value = valueLength < 0 ? null : Buffer.from(data.subarray(o + 4, o + 4 + valueLength));
    records.push({ offset, timestamp, key, value, headers });
    pos += 4 + bodyLength;
  }
  return { records, validBytes: pos };
}
