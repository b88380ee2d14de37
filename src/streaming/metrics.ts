import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The event stream's Prometheus metrics, registered on the app's registry (`backbeat_streaming_*`). */
export class StreamingMetrics {
  readonly ingested: Counter<'source' | 'outcome'>;
  readonly appendDuration: Histogram<'engine'>;
  readonly processed: Counter<'handler' | 'outcome'>;
  readonly handlerDuration: Histogram<'handler'>;
  readonly lag: Gauge<'partition'>;
  readonly deadLetters: Gauge;
  readonly plays: Counter<'outcome'>;
  readonly recommendationUpdate: Histogram;
  readonly recommendationPushes: Counter<'outcome'>;
  readonly windowResults: Counter<'window' | 'kind'>;
  readonly snapshotDuration: Histogram<'phase'>;
  readonly snapshotBytes: Gauge;
  readonly snapshotPartBytes: Gauge<'part'>;
  readonly snapshotPartCpu: Gauge<'part' | 'phase'>;
  readonly snapshotLongestBlock: Gauge;
  readonly factorTrainings: Counter<'outcome'>;
  readonly factorTrainingCpu: Gauge;
  readonly snapshotWrites: Counter<'outcome'>;
  readonly snapshotOffset: Gauge<'partition'>;
  readonly snapshotStarts: Counter<'outcome'>;
  readonly snapshotInvalid: Counter<'reason'>;
  readonly replayTail: Gauge;
  readonly backlogRefused: Counter<'source'>;
  /** Time of the newest snapshot written or restored (ms since the epoch), for the age gauge. */
  snapshotAt = 0;

  constructor(registry: Registry) {
    const registers = [registry];
    this.ingested = new Counter({
      name: 'backbeat_streaming_events_ingested_total',
      help: 'Events received, by source (http, ws) and outcome (accepted, duplicate, rejected)',
      labelNames: ['source', 'outcome'] as const,
      registers,
    });
    this.appendDuration = new Histogram({
      name: 'backbeat_streaming_append_duration_seconds',
      help: 'Time for a batch to become durable in the event log',
      labelNames: ['engine'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.processed = new Counter({
      name: 'backbeat_streaming_events_processed_total',
      help: 'Events handled, by handler and outcome (ok, replayed, retried, dead_lettered, skipped_duplicate; handler * : skipped_erased for crypto-shredded records, erasure for erasure markers)',
      labelNames: ['handler', 'outcome'] as const,
      registers,
    });
    this.handlerDuration = new Histogram({
      name: 'backbeat_streaming_handler_duration_seconds',
      help: 'Time one handler spends on one event',
      labelNames: ['handler'] as const,
      buckets: [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5],
      registers,
    });
    this.lag = new Gauge({
      name: 'backbeat_streaming_consumer_lag',
      help: 'Records appended but not yet handled, per partition',
      labelNames: ['partition'] as const,
      registers,
    });
    this.deadLetters = new Gauge({
      name: 'backbeat_streaming_dead_letters',
      help: 'Events in the dead-letter queue',
      registers,
    });
    this.plays = new Counter({
      name: 'backbeat_streaming_plays_total',
      help: 'Plays by outcome (complete, partial, skip)',
      labelNames: ['outcome'] as const,
      registers,
    });
    this.recommendationUpdate = new Histogram({
      name: 'backbeat_streaming_recommendation_update_seconds',
      help: 'Time the recommendation model takes to learn from one event',
      buckets: [0.000005, 0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01],
      registers,
    });
    this.recommendationPushes = new Counter({
      name: 'backbeat_streaming_recommendation_pushes_total',
      help: "Recommendation lists pushed to users' user:<id> channels, by outcome",
      labelNames: ['outcome'] as const,
      registers,
    });
    this.windowResults = new Counter({
      name: 'backbeat_streaming_window_results_total',
      help: 'Windowed aggregate results emitted, by window and kind (final, update, late_dropped)',
      labelNames: ['window', 'kind'] as const,
      registers,
    });
    this.snapshotDuration = new Histogram({
      name: 'backbeat_streaming_snapshot_duration_seconds',
      help: 'Handler-state snapshots: time to serialize (the stream waits meanwhile; the event loop turns between slices), to write the file durably, and to load and restore one at start',
      labelNames: ['phase'] as const,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.snapshotBytes = new Gauge({
      name: 'backbeat_streaming_snapshot_bytes',
      help: 'Size of the newest handler-state snapshot file',
      registers,
    });
    this.snapshotPartBytes = new Gauge({
      name: 'backbeat_streaming_snapshot_part_bytes',
      help: 'Size of each part (processor, one per handler) of the newest handler-state snapshot',
      labelNames: ['part'] as const,
      registers,
    });
    this.snapshotPartCpu = new Gauge({
      name: 'backbeat_streaming_snapshot_part_cpu_seconds',
      help: 'CPU time of each part of the newest snapshot: serialize (snapshot() + v8.serialize, the stream waits) or restore (deserialize + restore())',
      labelNames: ['part', 'phase'] as const,
      registers,
    });
    this.factorTrainings = new Counter({
      name: 'backbeat_streaming_recommendation_factor_trainings_total',
      help: "Trainings of the recommendation model's latent factors (implicit ALS over the users' profiles), by outcome",
      labelNames: ['outcome'] as const,
      registers,
    });
    this.factorTrainingCpu = new Gauge({
      name: 'backbeat_streaming_recommendation_factor_training_seconds',
      help: 'CPU time of the newest training of the latent factors (run in 10 ms slices between batches)',
      registers,
    });
    this.snapshotLongestBlock = new Gauge({
      name: 'backbeat_streaming_snapshot_longest_block_seconds',
      help: "Longest time the event loop waited at once while the newest snapshot was serialized (a slice of building a large handler's columns, or one part's v8.serialize); the whole serialize phase is longer, with the event loop turning between slices",
      registers,
    });
    this.snapshotWrites = new Counter({
      name: 'backbeat_streaming_snapshots_written_total',
      help: 'Handler-state snapshots written, by outcome (ok, failed, skipped: the previous write still running)',
      labelNames: ['outcome'] as const,
      registers,
    });
    this.snapshotOffset = new Gauge({
      name: 'backbeat_streaming_snapshot_offset',
      help: 'Last log offset covered by the newest handler-state snapshot, per partition',
      labelNames: ['partition'] as const,
      registers,
    });
    this.snapshotStarts = new Counter({
      name: 'backbeat_streaming_snapshot_starts_total',
      help: 'Processor starts by how the handler state was rebuilt: restored (snapshot + tail) or full_replay',
      labelNames: ['outcome'] as const,
      registers,
    });
    this.snapshotInvalid = new Counter({
      name: 'backbeat_streaming_snapshot_invalid_total',
      help: 'Snapshot files found unusable at start and skipped, by reason (truncated, checksum, format, decode, mismatch, restore, io)',
      labelNames: ['reason'] as const,
      registers,
    });
    this.replayTail = new Gauge({
      name: 'backbeat_streaming_snapshot_replay_tail_events',
      help: 'Records after the restored snapshot position (or the whole log on a full replay) at the last start',
      registers,
    });
    const age: Gauge = new Gauge({
      name: 'backbeat_streaming_snapshot_age_seconds',
      help: 'Seconds since the newest handler-state snapshot was taken (-1: none yet)',
      registers,
      collect: () => age.set(this.snapshotAt ? (Date.now() - this.snapshotAt) / 1000 : -1),
    });
    this.backlogRefused = new Counter({
      name: 'backbeat_streaming_backlog_refused_total',
      help: 'Event batches refused (503 / 4503) because the handlers are more than the lag limit behind the log, by source',
      labelNames: ['source'] as const,
      registers,
    });
  }
}
