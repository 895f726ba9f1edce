// Readiness check for the local Kafka broker (used by scripts/kafka.sh start).
// Succeeds only once a real produce (acks=-1) to topic __thoth_ready is acknowledged.
//
//   node scripts/kafka-ready.mjs [host:port]        (default 127.0.0.1:9092)
//
// Env: KAFKA_READY_TIMEOUT_MS (default 60000); KAFKA_READY_PID: give up early if that process exits.
import { Kafka, logLevel, Partitioners } from 'kafkajs';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(
    'usage: node scripts/kafka-ready.mjs [host:port]   (default 127.0.0.1:9092)\n\nWaits until a produce (acks=-1) to the broker succeeds; exits 0 then, 1 on timeout.\nEnv: KAFKA_READY_TIMEOUT_MS (default 60000), KAFKA_READY_PID (give up if that process exits).',
  );
  process.exit(0);
}
const broker = process.argv[2] ?? '127.0.0.1:9092';
const timeoutMs = Number(process.env.KAFKA_READY_TIMEOUT_MS ?? 60_000);
const watchPid = process.env.KAFKA_READY_PID ? Number(process.env.KAFKA_READY_PID) : undefined;
const topic = '__thoth_ready';
const deadline = Date.now() + timeoutMs;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

function withTimeout(promise, ms) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`attempt timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function attempt() {
  const kafka = new Kafka({
    clientId: 'thoth-kafka-ready',
    brokers: [broker],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2_000,
    requestTimeout: 10_000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
  });
  try {
    await admin.connect();
    const topics = await admin.listTopics();
    if (!topics.includes(topic)) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic,
            numPartitions: 1,
            replicationFactor: 1,
            configEntries: [{ name: 'retention.ms', value: '3600000' }],
          },
        ],
      });
    }
    await producer.connect();
    const [meta] = await producer.send({
      topic,
      acks: -1,
      messages: [{ key: 'ready', value: new Date().toISOString() }],
    });
    return meta;
  } finally {
    await producer.disconnect().catch(() => {});
    await admin.disconnect().catch(() => {});
  }
}

let lastError;
let attempts = 0;
while (Date.now() < deadline) {
  if (watchPid !== undefined && !pidAlive(watchPid)) {
    console.error(`kafka-ready: broker process ${watchPid} exited`);
    process.exit(1);
  }
  attempts++;
  try {
    const meta = await withTimeout(attempt(), Math.max(1_000, Math.min(15_000, deadline - Date.now())));
    console.log(
      `kafka-ready: produced to ${topic} on ${broker} (partition ${meta.partition}, offset ${meta.baseOffset}) after ${attempts} attempt(s)`,
    );
    process.exit(0);
  } catch (err) {
    lastError = err;
    console.log(`kafka-ready: attempt ${attempts} failed: ${err?.message ?? err}`);
    await sleep(500);
  }
}
console.error(
  `kafka-ready: ${broker} not ready after ${timeoutMs} ms (${attempts} attempts): ${lastError?.message ?? lastError}`,
);
process.exit(1);
