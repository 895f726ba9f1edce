import type { Bus } from './bus.ts';
import { KafkaBus, type KafkaBusOptions } from './kafka-bus.ts';
import { ConfluentKafkaBus } from './kafka-bus-confluent.ts';

/** The Kafka clients the bus can run on; kafkajs is the default (docs/performance.md, "Kafka client"). */
export const KAFKA_CLIENTS = ['kafkajs', 'confluent'] as const;
export type KafkaClientName = (typeof KAFKA_CLIENTS)[number];

/**
 * The Kafka adapter of the bus on the client `client` (default: THOTH_KAFKA_CLIENT, else kafkajs). The others
 * exist to be measured against kafkajs on the same contract suite and benchmarks; they are not dependencies.
 */
export function createKafkaBus(
  options: KafkaBusOptions,
  client: string = process.env.THOTH_KAFKA_CLIENT || 'kafkajs',
): Bus {
  switch (client) {
    case 'kafkajs':
      return new KafkaBus(options);
    case 'confluent':
      return new ConfluentKafkaBus(options);
    default:
      throw new Error(
        `THOTH_KAFKA_CLIENT: unknown Kafka client "${client}" (known: ${KAFKA_CLIENTS.join(', ')})`,
      );
  }
}
