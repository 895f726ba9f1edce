import type { HoldRecord } from '@thoth/contracts';
import { AvroCodec, createLogger, MemoryBus } from '@thoth/platform';
import { BackgroundPublisher } from '../background-publisher.ts';
import { HoldRegistry } from './hold-registry.ts';

/** Test support for the holds tests: API replicas' hold registries on one in-process bus. */
export const APPROVALS = 'test.approvals';
export const EVENTS = 'test.events';
export const codec = new AvroCodec();
export const log = createLogger('silent');

export interface Replica {
  holds: HoldRegistry;
  publisher: BackgroundPublisher;
}

export class HoldsOnMemoryBus {
  bus = new MemoryBus({ defaultPartitions: 1 });
  private readonly replicas: Replica[] = [];

  /** A fresh bus with the approvals (compacted) and events topics. */
  async setup(): Promise<void> {
    this.bus = new MemoryBus({ defaultPartitions: 1 });
    await this.bus.ensureTopics([{ name: APPROVALS, compacted: true }, { name: EVENTS }]);
  }

  /** One more API replica's registry, started (it has read the approvals topic). */
  async replica(now?: () => number): Promise<Replica> {
    const publisher = new BackgroundPublisher({ bus: this.bus, codec, log });
    const holds = new HoldRegistry({
      bus: this.bus,
      codec,
      topic: APPROVALS,
      eventsTopic: EVENTS,
      publisher,
      log,
      ttlSeconds: 60,
      now,
    });
    await holds.start();
    const replica = { holds, publisher };
    this.replicas.push(replica);
    return replica;
  }

  /** Every Hold record on a topic, in order. */
  async holdsOn(topic: string): Promise<HoldRecord[]> {
    const records: HoldRecord[] = [];
    const view = await this.bus.openView(topic, (_key, value, headers) => {
      const decoded = value && codec.decode({ value, headers });
      if (decoded?.ok && decoded.schema === 'thoth.v1.Hold') records.push(decoded.value);
    });
    await view.close();
    return records;
  }

  /** Drains and stops every replica, then closes the bus (afterEach). */
  async close(): Promise<void> {
    for (const r of this.replicas.splice(0)) {
      await r.publisher.drain();
      await r.holds.stop();
    }
    await this.bus.close();
  }
}
