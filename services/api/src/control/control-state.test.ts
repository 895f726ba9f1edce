import type { Bus } from '@thoth/platform';
import { AvroCodec, createLogger, MemoryBus } from '@thoth/platform';
import { describe, expect, it } from 'vitest';
import { ControlState } from './control-state.ts';

const CONTROL = 'test.control';
const codec = new AvroCodec();
const log = createLogger('silent');

async function controlOn(bus: Bus, now = () => 1_000): Promise<ControlState> {
  await bus.ensureTopics([{ name: CONTROL, partitions: 1, compacted: true }]);
  const control = new ControlState({ bus, codec, topic: CONTROL, log, now });
  await control.start();
  return control;
}

describe('ControlState: projection, commands, key usage', () => {
  it('a command is readable at once (before the topic echoes it), and a revocation reaches another replica', async () => {
    const bus = new MemoryBus({ defaultPartitions: 1 });
    const one = await controlOn(bus);
    const two = await controlOn(bus);
    const { apiKey, record } = await one.commands.createApiKey({
      tenantId: 'acme',
      name: 'k',
      permissions: ['read'],
      createdBy: 'admin-token',
    });
    expect(one.projection.identify(apiKey)?.keyId).toBe(record.key_id);
    expect(one.projection.hasTenant('acme')).toBe(true);
    await one.commands.revokeApiKey('acme', record.key_id, 'admin-token');
    await expect.poll(() => two.projection.identify(apiKey)?.revokedAt).toBe(1_000);
    // A revoked key's plaintext is not kept: the remembered hashes are dropped when a key changes.
    for (const replica of [one, two])
      expect(
        (replica.projection as unknown as { hashOfKnownKey: Map<string, string> }).hashOfKnownKey.has(apiKey),
      ).toBe(false);
    await Promise.all([one.stop(), two.stop()]);
  });

  it('a tombstone removes a key from the projection', async () => {
    const bus = new MemoryBus({ defaultPartitions: 1 });
    const control = await controlOn(bus);
    const { apiKey, record } = await control.commands.createApiKey({
      tenantId: 'acme',
      name: 'k',
      permissions: ['read'],
      createdBy: 'admin-token',
    });
    // Known (and remembered: identify keeps the hashes of keys it found) before the tombstone, gone after it.
    expect(control.projection.identify(apiKey)?.keyId).toBe(record.key_id);
    await bus.publish(CONTROL, [{ key: `apikey/${record.key_id}`, value: null }]);
    await expect.poll(() => control.projection.identify(apiKey)).toBeUndefined();
    // …and its plaintext is not kept in the projection's memory once it is gone.
    const remembered = (control.projection as unknown as { hashOfKnownKey: Map<string, string> })
      .hashOfKnownKey;
    expect(remembered.has(apiKey)).toBe(false);
    await control.stop();
  });

  it('keeps the latest use of a key, and a failed usage flush keeps its keys for the next one', async () => {
    const memory = new MemoryBus({ defaultPartitions: 1 });
    let refuse = true;
    const bus = new Proxy(memory, {
      get(target, property, receiver) {
        if (property === 'publish')
          return async (topic: string, messages: Parameters<Bus['publish']>[1]) => {
            if (refuse && messages.some((m) => String(m.key).startsWith('key-used/')))
              throw new Error('control topic unavailable');
            return target.publish(topic, messages);
          };
        return Reflect.get(target, property, receiver);
      },
    }) as Bus;
    const control = await controlOn(bus);
    const { apiKey } = await control.commands.createApiKey({
      tenantId: 'acme',
      name: 'k',
      permissions: ['read'],
      createdBy: 'admin-token',
    });
    const identity = control.projection.identify(apiKey)!;
    control.usage.markUsed(identity, 5_000);
    control.usage.markUsed(identity, 4_000); // an older use (another request's clock) does not go back
    expect(control.projection.lastUsedAt(identity.keyId)).toBe(5_000);

    await expect(control.usage.flush()).rejects.toThrow(/unavailable/);
    refuse = false;
    await control.usage.flush();
    const other = await controlOn(memory);
    await expect.poll(() => other.projection.lastUsedAt(identity.keyId)).toBe(5_000);
    await Promise.all([control.stop(), other.stop()]);
  });
});
