import type { EventLog } from '../log/port.ts';
import type { RetryPolicy } from '../processor.ts';
import type { BuiltinHandlersOptions } from './builtin.ts';

/** What the stream worker is started with (`workerData`: structured-cloneable only). */
export interface WorkerData {
  /** The worker's consumer group (the node's group + `.handlers`). */
  group: string;
  logKind: EventLog['kind'];
  logLevel: string;
  retry: RetryPolicy;
  handlers: Omit<BuiltinHandlersOptions, 'clock' | 'metrics' | 'logger' | 'publish' | 'listening'>;
  /** The main thread answers `listening` (whether anyone is subscribed to a user's channel) before a push. */
  listening?: boolean;
  /** Snapshots of the worker's handlers, in a directory of their own (`<snapshotDir>/handlers`). */
  snapshots?: { dir: string; keep: number; everyEvents: number; everyMs: number };
  /** Cluster: the main thread sends the users of each batch this node does not own. */
  owns: boolean;
  /** Enables the `testFault` operation (tests only). */
  testHooks?: boolean;
}

/** A dead letter through its built-in handler again, in the worker. */
export type ReplayOutcome = { ok: true } | { ok: false; code: string; message: string; retriable: boolean };

/** The worker processor's progress (`GET /v1/events/stats`). */
export interface WorkerStats {
  handled: number;
  applied: Record<string, number>;
  snapshots: boolean;
}
