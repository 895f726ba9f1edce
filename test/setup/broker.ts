import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';

const run = promisify(execFile);
/** Set in this (main) process once a broker is started here, for the setups of later projects. */
const STARTED_BROKERS = 'THOTH_TEST_STARTED_KAFKA_BROKERS';
const ROOT = resolve(import.meta.dirname, '../..');

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string[];
  }
}

/**
 * Gives the integration tests one Kafka broker for the whole run, in this order:
 * 1. `KAFKA_BROKERS` if set (an existing broker);
 * 2. a testcontainers Kafka when a container runtime answers (developer laptops with Docker);
 * 3. the project's local KRaft broker (scripts/kafka.sh: Apache Kafka from Maven Central, Java 17).
 * If none can start, the run fails and says what is missing: integration tests never skip silently.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // A later project of the same run (the topology project) shares the broker the first one started.
  const started = process.env[STARTED_BROKERS]?.split(',').filter(Boolean);
  if (started?.length) {
    project.provide('kafkaBrokers', started);
    return async () => {};
  }
  const fromEnv = process.env.KAFKA_BROKERS?.split(',').filter(Boolean);
  if (fromEnv?.length) {
    project.provide('kafkaBrokers', fromEnv);
    console.log(`[broker] using KAFKA_BROKERS=${fromEnv.join(',')}`);
    return async () => {};
  }

  const problems: string[] = [];
  if (await containerRuntimeAnswers()) {
    try {
      const { KafkaContainer } = await import('@testcontainers/kafka');
      const container = await new KafkaContainer('confluentinc/cp-kafka:7.9.0').withKraft().start();
      const brokers = [`${container.getHost()}:${container.getMappedPort(9093)}`];
      project.provide('kafkaBrokers', brokers);
      process.env[STARTED_BROKERS] = brokers.join(',');
      console.log(`[broker] testcontainers Kafka at ${brokers[0]}`);
      return async () => {
        await container.stop();
      };
    } catch (error) {
      problems.push(`testcontainers: ${(error as Error).message}`);
    }
  } else {
    problems.push('testcontainers: no container runtime answers (no Docker engine)');
  }

  const port = process.env.TEST_KAFKA_PORT ?? '19092';
  try {
    console.log(`[broker] starting the local KRaft broker on 127.0.0.1:${port} (scripts/kafka.sh)`);
    const env = { ...process.env, KAFKA_PORT: port, KAFKA_RESET: '1' };
    const { stdout } = await run('bash', [resolve(ROOT, 'scripts/kafka.sh'), 'start'], {
      env,
      cwd: ROOT,
      maxBuffer: 16 * 1024 * 1024,
      timeout: 600_000,
    });
    console.log(stdout.trim().split('\n').slice(-1)[0]);
    project.provide('kafkaBrokers', [`127.0.0.1:${port}`]);
    process.env[STARTED_BROKERS] = `127.0.0.1:${port}`;
    return async () => {
      await run('bash', [resolve(ROOT, 'scripts/kafka.sh'), 'stop'], { env, cwd: ROOT });
    };
  } catch (error) {
    const e = error as Error & { stdout?: string; stderr?: string };
    problems.push(`local broker: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
  throw new Error(
    `integration tests need a Kafka broker and none could be had:\n- ${problems.join('\n- ')}\n` +
      'Set KAFKA_BROKERS, start Docker, or install Java 17 + Maven for scripts/kafka.sh.',
  );
}

async function containerRuntimeAnswers(): Promise<boolean> {
  if (!process.env.DOCKER_HOST && !existsSync('/var/run/docker.sock')) return false;
  try {
    await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}
