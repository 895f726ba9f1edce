import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { MessageChannel } from 'node:worker_threads';
import type { Bus } from '@thoth/platform';
import { BridgedBus, createLogger, KafkaBus, MemoryBus, RpcPort, serveBus } from '@thoth/platform';
import type { Admin } from 'kafkajs';
import { inject } from 'vitest';

export const quietLog = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');

/** A topic prefix no other test (or earlier run on the same broker) uses. */
export function uniquePrefix(name: string): string {
  return `t-${name}-${randomUUID().slice(0, 8)}`;
}

export interface AdapterFactory {
  name: 'kafka' | 'memory' | 'bridged';
  create(options?: { dir?: string }): Bus;
}

export const adapters: AdapterFactory[] = [
  {
    // THOTH_KAFKA_CLIENT picks another Kafka client for the run (kafka-client.ts); unset, kafkajs.
    name: 'kafka',
    create: () =>
      new KafkaBus({
        brokers: inject('kafkaBrokers'),
        clientId: `test-${randomUUID().slice(0, 6)}`,
        defaultPartitions: 3,
        onLog: (level, message) => {
          if (level === 'error' && process.env.TEST_LOG_LEVEL) console.error(message);
        },
      }),
  },
  {
    name: 'memory',
    create: (options) =>
      new MemoryBus({
        defaultPartitions: 3,
        dir: options?.dir,
        onError: (error, context) => {
          if (process.env.TEST_LOG_LEVEL) console.error(context, error);
        },
      }),
  },
  {
    // The consumers' thread sees the main thread's bus through the thread bridge: the same contract must hold
    // across it (a MessageChannel clones values exactly as a worker's port does).
    name: 'bridged',
    create: (options) => {
      const inner = new MemoryBus({ defaultPartitions: 3, dir: options?.dir });
      const channel = new MessageChannel();
      const served = serveBus(new RpcPort(channel.port1), inner);
      const bridged = new BridgedBus(new RpcPort(channel.port2));
      bridged.close = async () => {
        await served.close();
        await inner.close();
        channel.port1.close();
      };
      return bridged;
    },
  },
];

/** Polls `check` until it returns true or `timeoutMs` passes (then throws with `what`). */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A free loopback port BELOW the kernel's ephemeral range, picked at random, for a process a test starts on it
 * (or stops and restarts on it). A port from the ephemeral range can be taken, between the pick and the bind, as
 * the source port of any outgoing connection on the machine (CI once failed a start that way); a random pick
 * also keeps tests that run in parallel apart.
 */
export async function freePort(): Promise<number> {
  const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
    .trim()
    .split(/\s+/)
    .map(Number);
  const top = Math.max(2_000, (low ?? 32_768) - 1);
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * Math.max(1, top - 20_000));
    if (await canListen(port)) return port;
  }
  throw new Error('no free port below the ephemeral range');
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Whether a socket LISTENs on the port (read from /proc; a connect probe could self-connect and take it). */
export function isListening(port: number): boolean {
  const suffix = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state === '0A' && local?.endsWith(suffix)) return true;
    }
  }
  return false;
}

/**
 * A consumer group's committed position on a topic (messages past the log start) and its lag, straight from
 * the broker — retrying what Kafka marks retriable (e.g. a coordinator still loading on a fresh broker).
 */
export async function groupProgress(
  admin: Admin,
  groupId: string,
  topic: string,
): Promise<{ committed: number; lag: number }> {
  for (let attempt = 0; ; attempt++) {
    try {
      const ends = await admin.fetchTopicOffsets(topic);
      const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
      let committed = 0;
      let lag = 0;
      for (const end of ends) {
        const offset = Number(offsets?.partitions.find((p) => p.partition === end.partition)?.offset ?? -1);
        const position = offset < 0 ? Number(end.low) : offset;
        committed += position - Number(end.low);
        lag += Number(end.high) - position;
      }
      return { committed, lag };
    } catch (error) {
      if (!(error as { retriable?: boolean }).retriable || attempt >= 50) throw error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
