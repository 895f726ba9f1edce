// Compatibility probe: does kafkajs (as installed) work with the running Kafka broker?
//
//   node scripts/kafka-compat.mjs [host:port]        (default 127.0.0.1:9092; start one with `bash scripts/kafka.sh start`)
//
// Exercises what Thoth relies on and prints PASS/FAIL per step; exits 1 if any step fails.
// Every run uses fresh topic/group names and deletes its topics and groups at the end.
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, Partitioners } from 'kafkajs';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(
    'usage: node scripts/kafka-compat.mjs [host:port]   (default 127.0.0.1:9092)\n\nChecks that kafkajs works with the running broker: topics, compaction, the idempotent producer,\nconsumer groups and commits; prints PASS/FAIL per step, exits 1 if any step fails.',
  );
  process.exit(0);
}
const broker = process.argv[2] ?? '127.0.0.1:9092';
const run = `${Date.now().toString(36)}-${randomUUID().slice(0, 6)}`;
const T_EVENTS = `thoth-compat-${run}-events`;
const T_COMPACT = `thoth-compat-${run}-compact`;
const T_AUTO = `thoth-compat-${run}-auto`;
const T_TXN = `thoth-compat-${run}-txn`;
const GROUP = `thoth-compat-${run}-group`;
const GROUP_COMPACT = `thoth-compat-${run}-compact-reader`;
const GROUP_TXN = `thoth-compat-${run}-txn-reader`;
const STEP_TIMEOUT_MS = 45_000;

const kafka = new Kafka({
  clientId: 'thoth-kafka-compat',
  brokers: [broker],
  logLevel: process.env.KAFKAJS_LOG_LEVEL ? logLevel[process.env.KAFKAJS_LOG_LEVEL] : logLevel.WARN,
  connectionTimeout: 3_000,
  requestTimeout: 15_000,
  retry: { retries: 5, initialRetryTime: 200 },
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const results = [];

function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}

async function step(name, fn) {
  const t0 = Date.now();
  let timer;
  try {
    const info = await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
      }),
    ]);
    const ms = Date.now() - t0;
    results.push({ name, ok: true });
    console.log(`PASS  ${name} (${ms} ms)${info ? ` — ${info}` : ''}`);
    return true;
  } catch (err) {
    const ms = Date.now() - t0;
    results.push({ name, ok: false });
    const type = err?.type ? ` [${err.type}]` : '';
    console.log(`FAIL  ${name} (${ms} ms) — ${err?.name ?? 'Error'}${type}: ${err?.message ?? err}`);
    if (process.env.KAFKA_COMPAT_STACK) console.log(err?.stack);
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** Run a group consumer with eachBatch + manual commits until `until(received)` or timeout. */
async function consume({
  groupId,
  topic,
  commit,
  until,
  fromBeginning = true,
  graceMs = 1_500,
  timeoutMs = 30_000,
}) {
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
    maxWaitTimeInMs: 250,
    allowAutoTopicCreation: false,
  });
  const received = [];
  let joinMs;
  const tStart = Date.now();
  consumer.on(consumer.events.GROUP_JOIN, () => {
    joinMs ??= Date.now() - tStart;
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({
      batch,
      resolveOffset,
      heartbeat,
      commitOffsetsIfNecessary,
      uncommittedOffsets,
      isRunning,
      isStale,
    }) => {
      for (const m of batch.messages) {
        if (!isRunning() || isStale()) break;
        received.push({
          partition: batch.partition,
          offset: m.offset,
          key: m.key?.toString() ?? null,
          value: m.value === null ? null : m.value.toString(),
          headers: Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, v?.toString()])),
        });
        resolveOffset(m.offset);
        await heartbeat();
      }
      // With autoCommit:false, commitOffsetsIfNecessary() without arguments commits nothing
      // (no autoCommitInterval/Threshold); pass the resolved offsets explicitly.
      if (commit) await commitOffsetsIfNecessary(uncommittedOffsets());
    },
  });
  const deadline = Date.now() + timeoutMs;
  while (!until(received) && Date.now() < deadline) await sleep(50);
  const done = until(received);
  if (done && graceMs) await sleep(graceMs); // catch duplicates / extra messages
  await consumer.disconnect();
  return { received, joinMs, done };
}

const producer = kafka.producer({
  idempotent: true,
  maxInFlightRequests: 1,
  createPartitioner: Partitioners.DefaultPartitioner,
  allowAutoTopicCreation: true,
});
const admin = kafka.admin();

const eventMsg = (n) => ({
  key: `agent-${n % 6}`,
  value: JSON.stringify({ n, tool: 'search', at: new Date().toISOString() }),
  headers: { 'trace-id': `trace-${n}`, 'content-type': 'application/json', seq: String(n) },
});
const nOf = (m) => JSON.parse(m.value).n;

await step('admin.connect + describeCluster', async () => {
  await admin.connect();
  const c = await admin.describeCluster();
  return `cluster ${c.clusterId}, brokers ${c.brokers.map((b) => `${b.nodeId}@${b.host}:${b.port}`).join(',')}, controller ${c.controller}`;
});

await step('admin.createTopics (3 partitions + cleanup.policy=compact)', async () => {
  const created = await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic: T_EVENTS, numPartitions: 3, replicationFactor: 1 },
      {
        topic: T_COMPACT,
        numPartitions: 1,
        replicationFactor: 1,
        configEntries: [
          { name: 'cleanup.policy', value: 'compact' },
          { name: 'segment.ms', value: '500' },
          { name: 'min.cleanable.dirty.ratio', value: '0.001' },
          { name: 'min.compaction.lag.ms', value: '0' },
        ],
      },
    ],
  });
  assert(created === true, `createTopics returned ${created}`);
  const meta = await admin.fetchTopicMetadata({ topics: [T_EVENTS, T_COMPACT] });
  const parts = Object.fromEntries(meta.topics.map((t) => [t.name, t.partitions.length]));
  assert(parts[T_EVENTS] === 3 && parts[T_COMPACT] === 1, `partitions ${JSON.stringify(parts)}`);
  const cfg = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: 2 /* TOPIC */, name: T_COMPACT, configNames: ['cleanup.policy'] }],
  });
  const policy = cfg.resources[0].configEntries.find((e) => e.configName === 'cleanup.policy')?.configValue;
  assert(policy === 'compact', `cleanup.policy=${policy}`);
  return `partitions ${JSON.stringify(parts)}, describeConfigs cleanup.policy=${policy}`;
});

await step(
  'idempotent producer (acks=-1, maxInFlightRequests=1): 30 keyed messages with headers',
  async () => {
    await producer.connect();
    const metas = [];
    for (let b = 0; b < 3; b++) {
      const messages = Array.from({ length: 10 }, (_, i) => eventMsg(b * 10 + i));
      metas.push(...(await producer.send({ topic: T_EVENTS, acks: -1, messages })));
    }
    assert(
      metas.every((m) => m.errorCode === 0),
      `errors ${JSON.stringify(metas)}`,
    );
    return `${metas.length} partition acks, baseOffsets ${metas.map((m) => `p${m.partition}@${m.baseOffset}`).join(' ')}`;
  },
);

let join1;
await step(
  'consumer group eachBatch + resolveOffset + manual commit (autoCommit:false): reads all 30',
  async () => {
    const r = await consume({
      groupId: GROUP,
      topic: T_EVENTS,
      commit: true,
      until: (rec) => rec.length >= 30,
    });
    join1 = r.joinMs;
    assert(r.done, `received only ${r.received.length}/30`);
    assert(r.received.length === 30, `received ${r.received.length} (duplicates?)`);
    const ns = r.received.map(nOf).sort((a, b) => a - b);
    assert(
      ns.every((n, i) => n === i),
      `values ${ns}`,
    );
    for (const m of r.received) {
      const n = nOf(m);
      assert(m.key === `agent-${n % 6}`, `key ${m.key} for n=${n}`);
      assert(
        m.headers['trace-id'] === `trace-${n}` && m.headers.seq === String(n),
        `headers ${JSON.stringify(m.headers)}`,
      );
    }
    // per-key order
    const byKey = {};
    for (const m of r.received) {
      byKey[m.key] ??= [];
      byKey[m.key].push(nOf(m));
    }
    for (const [k, list] of Object.entries(byKey))
      assert(
        list.every((n, i) => i === 0 || n > list[i - 1]),
        `order for ${k}: ${list}`,
      );
    // same key -> same partition
    const partOfKey = {};
    for (const m of r.received) {
      partOfKey[m.key] ??= m.partition;
      assert(partOfKey[m.key] === m.partition, `key ${m.key} on several partitions`);
    }
    return `first group join ${r.joinMs} ms; keys, headers, per-key order verified`;
  },
);

async function expectCommittedAtEnd(expectedTotal) {
  const end = await admin.fetchTopicOffsets(T_EVENTS);
  const [committed] = await admin.fetchOffsets({ groupId: GROUP, topics: [T_EVENTS] });
  const byPart = Object.fromEntries(committed.partitions.map((p) => [p.partition, p.offset]));
  for (const p of end)
    assert(
      byPart[p.partition] === p.high,
      `partition ${p.partition}: committed ${byPart[p.partition]} != high ${p.high}`,
    );
  const total = end.reduce((s, p) => s + Number(p.high), 0);
  assert(total === expectedTotal, `sum of high watermarks ${total} != ${expectedTotal}`);
  return `committed ${JSON.stringify(byPart)} == high watermarks`;
}

await step('admin.fetchOffsets == admin.fetchTopicOffsets high watermarks (30)', () =>
  expectCommittedAtEnd(30),
);

await step(
  'restart: new consumer in same group resumes from committed offset (no commit this time)',
  async () => {
    const metas = await producer.send({
      topic: T_EVENTS,
      acks: -1,
      messages: Array.from({ length: 20 }, (_, i) => eventMsg(30 + i)),
    });
    assert(
      metas.every((m) => m.errorCode === 0),
      'produce 20 more',
    );
    const r = await consume({
      groupId: GROUP,
      topic: T_EVENTS,
      commit: false,
      until: (rec) => rec.length >= 20,
    });
    assert(r.done, `received only ${r.received.length}/20`);
    const ns = r.received.map(nOf).sort((a, b) => a - b);
    assert(r.received.length === 20 && ns[0] === 30 && ns[19] === 49, `expected n=30..49 exactly, got ${ns}`);
    return `rejoin ${r.joinMs} ms; got exactly n=30..49`;
  },
);

await step('restart again: uncommitted messages are redelivered, then committed', async () => {
  const r = await consume({
    groupId: GROUP,
    topic: T_EVENTS,
    commit: true,
    until: (rec) => rec.length >= 20,
  });
  assert(r.done, `received only ${r.received.length}/20`);
  const ns = r.received.map(nOf).sort((a, b) => a - b);
  assert(r.received.length === 20 && ns[0] === 30 && ns[19] === 49, `expected n=30..49 exactly, got ${ns}`);
  return `rejoin ${r.joinMs} ms; ${await expectCommittedAtEnd(50)}`;
});

await step('admin.fetchTopicOffsets (low/high per partition)', async () => {
  const offs = await admin.fetchTopicOffsets(T_EVENTS);
  assert(offs.length === 3, `partitions ${offs.length}`);
  for (const p of offs)
    assert(p.low === '0' && Number(p.high) === Number(p.offset), `partition ${JSON.stringify(p)}`);
  return offs.map((p) => `p${p.partition}:${p.low}..${p.high}`).join(' ');
});

await step('compacted topic: keyed updates + tombstone, read from beginning', async () => {
  const expected = {};
  let produced = 0;
  for (let round = 1; round <= 4; round++) {
    const messages = [];
    for (let k = 0; k < 5; k++) {
      const key = `policy-${k}`;
      const value = round === 4 && k === 4 ? null : `v${round}`;
      if (round === 4 && k < 3) continue; // keys 0..2 stay at v3
      messages.push({ key, value, headers: { round: String(round) } });
      expected[key] = value;
    }
    await producer.send({ topic: T_COMPACT, acks: -1, messages });
    produced += messages.length;
    await sleep(700); // > segment.ms so the next append rolls a segment the cleaner may compact
  }
  await producer.send({ topic: T_COMPACT, acks: -1, messages: [{ key: 'policy-0', value: 'v3' }] }); // rolls the segment
  produced += 1;
  await sleep(2_500); // give the log cleaner (backoff 1 s) a chance
  const [end] = await admin.fetchTopicOffsets(T_COMPACT);
  const high = Number(end.high);
  const r = await consume({
    groupId: GROUP_COMPACT,
    topic: T_COMPACT,
    commit: true,
    until: (rec) => rec.length > 0 && Number(rec[rec.length - 1].offset) >= high - 1,
  });
  assert(r.done, `did not reach end offset ${high}; got ${r.received.length} messages`);
  const table = {};
  for (const m of r.received) table[m.key] = m.value;
  for (const [k, v] of Object.entries(expected)) assert(table[k] === v, `${k}: got ${table[k]} want ${v}`);
  const compacted = r.received.length < produced;
  return `${r.received.length}/${produced} records read (${compacted ? 'log cleaner had compacted it' : 'not compacted yet'}), latest values + tombstone ok`;
});

await step('transactional producer: committed visible, aborted hidden (read_committed)', async () => {
  await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic: T_TXN, numPartitions: 1, replicationFactor: 1 }],
  });
  const txProducer = kafka.producer({
    transactionalId: `thoth-compat-${run}-tx`,
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await txProducer.connect();
  try {
    const t1 = await txProducer.transaction();
    await t1.send({
      topic: T_TXN,
      messages: [
        { key: 'a', value: 'committed-1' },
        { key: 'b', value: 'committed-2' },
      ],
    });
    await t1.commit();
    const t2 = await txProducer.transaction();
    await t2.send({ topic: T_TXN, messages: [{ key: 'a', value: 'aborted' }] });
    await t2.abort();
    const t3 = await txProducer.transaction();
    await t3.send({ topic: T_TXN, messages: [{ key: 'c', value: 'committed-3' }] });
    await t3.commit();
  } finally {
    await txProducer.disconnect();
  }
  const r = await consume({
    groupId: GROUP_TXN,
    topic: T_TXN,
    commit: true,
    until: (rec) => rec.length >= 3,
  });
  const values = r.received.map((m) => m.value);
  assert(values.join(',') === 'committed-1,committed-2,committed-3', `read_committed saw ${values}`);
  return `read_committed saw ${values.join(',')}`;
});

await step(
  'producer auto-creates a topic (allowAutoTopicCreation) with broker default partitions',
  async () => {
    await producer.send({ topic: T_AUTO, acks: -1, messages: [{ key: 'a', value: '1' }] });
    const meta = await admin.fetchTopicMetadata({ topics: [T_AUTO] });
    return `auto-created with ${meta.topics[0].partitions.length} partitions`;
  },
);

await step('cleanup: deleteGroups + deleteTopics', async () => {
  await producer.disconnect();
  await admin.deleteGroups([GROUP, GROUP_COMPACT, GROUP_TXN]);
  await admin.deleteTopics({ topics: [T_EVENTS, T_COMPACT, T_AUTO, T_TXN] });
  return '';
});
await admin.disconnect().catch(() => {});

const failed = results.filter((r) => !r.ok);
console.log(`${results.length - failed.length} passed, ${failed.length} failed`);
if (join1 !== undefined) console.log(`note: first consumer-group join took ${join1} ms`);
process.exit(failed.length ? 1 : 0);
