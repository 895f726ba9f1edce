import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import type { Bus } from '@thoth/common/bus/bus';
import { KafkaBus } from '@thoth/common/bus/kafka-bus';
import { MemoryBus } from '@thoth/common/bus/memory-bus';
import { createLogger } from '@thoth/common/logger';
import { inject } from 'vitest';

export const quietLog = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');

/** A topic prefix no other test (or earlier run on the same broker) uses. */
export function uniquePrefix(name: string): string {
  return `t-${name}-${randomUUID().slice(0, 8)}`;
}

export interface AdapterFactory {
  name: 'kafka' | 'memory';
  create(options?: { dir?: string }): Bus;
}

export const adapters: AdapterFactory[] = [
  {
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

/** A TCP port on 127.0.0.1 that was free a moment ago (for child processes that must listen on a known port). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => res(port));
    });
    server.on('error', rej);
  });
}
