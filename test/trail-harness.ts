import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BehavioralEvent } from '@thoth/contracts';
import { agentKey, topicNames, topicSpecs } from '@thoth/contracts';
import { AvroCodec, createRedactor, DEFAULT_REDACTION_GROUPS, MemoryBus, Store } from '@thoth/platform';
import { AuditWriter } from '../services/audit-writer/src/audit-writer.ts';
import { ADMIN_TOKEN, startTestApi, type TestApi } from './api-harness.ts';
import { quietLog, uniquePrefix } from './helpers.ts';

export { ADMIN_TOKEN };

/** An API on an in-memory bus with a real chDB audit trail written by the real audit writer. */
export interface TrailApi extends TestApi {
  store: Store;
  /** Publishes a behavioral event straight to the events topic, as an SDK's Kafka transport does. */
  publishDirect(event: BehavioralEvent): Promise<void>;
  close(): Promise<void>;
}

export async function startTrailApi(options: { env?: Record<string, string> } = {}): Promise<TrailApi> {
  const dataDir = mkdtempSync(join(tmpdir(), 'thoth-trail-'));
  const store = await Store.open({ database: 'thoth', dataDir });
  await store.migrate();
  const bus = new MemoryBus({ defaultPartitions: 3 });
  // The writer subscribes first, as in `npm start`: the in-process bus trims what every existing group read.
  const prefix = uniquePrefix('trail');
  const topics = topicNames(prefix);
  await bus.ensureTopics(topicSpecs(topics, 3));
  const writer = new AuditWriter({
    bus,
    codec: new AvroCodec(),
    store,
    eventsTopic: topics.events,
    log: quietLog,
    redactor: createRedactor({ groups: DEFAULT_REDACTION_GROUPS }),
  });
  await writer.start();
  const api = await startTestApi({ bus, store, prefix, env: options.env });
  return {
    ...api,
    store,
    publishDirect: (event) =>
      bus.publish(topics.events, [
        api.codec.encode('thoth.v1.BehavioralEvent', agentKey(event.tenant_id, event.agent_id), event),
      ]),
    close: async () => {
      await writer.stop();
      await api.close();
      await bus.close();
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
