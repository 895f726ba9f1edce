import type { AdminEvent } from '@thoth/contracts';
import type { Bus } from '@thoth/platform';
import { AvroCodec, createLogger, MemoryBus } from '@thoth/platform';
import { describe, expect, it } from 'vitest';
import { OUTBOX_PREFIX } from './admin-outbox.ts';
import { ControlState } from './control-state.ts';

const CONTROL = 'test.control';
const EVENTS = 'test.events';
const codec = new AvroCodec();
const log = createLogger('silent');

async function busWithTopics(): Promise<MemoryBus> {
  const bus = new MemoryBus({ defaultPartitions: 1 });
  await bus.ensureTopics([
    { name: CONTROL, partitions: 1, compacted: true },
    { name: EVENTS, partitions: 1 },
  ]);
  return bus;
}

/** The bus, except that publishing to the events topic fails (a broker that refuses that topic, a crash). */
function withoutEvents(bus: MemoryBus): Bus {
  return new Proxy(bus, {
    get(target, property, receiver) {
      if (property === 'publish')
        return async (topic: string, messages: Parameters<Bus['publish']>[1]) => {
          if (topic === EVENTS) throw new Error('events topic unavailable');
          return target.publish(topic, messages);
        };
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/**
 * Reads the admin events of the events topic from now on (one group for the whole test: the in-process bus
 * drops what every group has committed), and the outbox keys left on the control topic.
 */
async function trailReader(
  bus: MemoryBus,
): Promise<() => Promise<{ events: AdminEvent[]; outbox: string[] }>> {
  const events: AdminEvent[] = [];
  await bus.subscribe({
    group: 'trail-reader',
    topics: [EVENTS],
    fromBeginning: true,
    handler: async (batch) => {
      for (const m of batch.messages) {
        const decoded = codec.decode(m);
        if (decoded.ok && decoded.schema === 'thoth.v1.AdminEvent') events.push(decoded.value);
      }
    },
  });
  return async () => {
    const view = await bus.openView(CONTROL);
    const outbox = [...view.entries()].map(([key]) => key).filter((key) => key.startsWith(OUTBOX_PREFIX));
    await view.close();
    return { events: [...events], outbox };
  };
}

async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200 && !(await check()); i++) await new Promise((r) => setTimeout(r, 10));
}

describe('the admin-audit outbox', () => {
  it('an acknowledged change has its admin event on the events topic, and the outbox is empty again', async () => {
    const bus = await busWithTopics();
    const trail = await trailReader(bus);
    const control = new ControlState({ bus, codec, topic: CONTROL, eventsTopic: EVENTS, log });
    await control.start();
    await control.commands.createTenant({ tenantId: 'acme', actor: 'admin-token' });
    await until(async () => (await trail()).events.length > 0 && (await trail()).outbox.length === 0);
    const { events, outbox } = await trail();
    expect(events.map((e) => `${e.tenant_id}:${e.action}`)).toEqual(['acme:tenant.create']);
    expect(outbox).toEqual([]);
    await control.stop();
  });

  it('an event that could not be relayed before a crash is relayed by the next replica to start', async () => {
    const bus = await busWithTopics();
    const trail = await trailReader(bus);
    const crashed = new ControlState({
      bus: withoutEvents(bus),
      codec,
      topic: CONTROL,
      eventsTopic: EVENTS,
      log,
    });
    await crashed.start();
    // Acknowledged: the change and its event are on the control topic, though the events topic refused it.
    await crashed.commands.createTenant({ tenantId: 'acme', actor: 'admin-token' });
    await crashed.stop(); // the process is gone, its retries with it
    const before = await trail();
    expect(before.events).toEqual([]);
    expect(before.outbox).toHaveLength(1);

    const next = new ControlState({ bus, codec, topic: CONTROL, eventsTopic: EVENTS, log });
    await next.start();
    expect(next.projection.hasTenant('acme')).toBe(true);
    await until(async () => (await trail()).events.length > 0 && (await trail()).outbox.length === 0);
    const after = await trail();
    expect(after.events.map((e) => `${e.tenant_id}:${e.action}`)).toEqual(['acme:tenant.create']);
    expect(after.outbox).toEqual([]);
    await next.stop();
  });
});
