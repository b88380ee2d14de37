import type * as KafkaClient from '@platformatic/kafka';
import { lazyModule } from '../../core/modules/index.ts';

/** The Kafka client library, loaded when a Kafka log is first built (not on an embedded node). */
export const kafkaClient = lazyModule<typeof KafkaClient>('@platformatic/kafka');
