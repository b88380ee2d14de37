/** What every gateway node publishes about itself (SPEC §8; `GET /v1/admin/nodes`). */
export interface NodeInfo {
  node: string;
  /** WebSocket URL clients use to reach this node, e.g. `ws://10.0.0.5:8080/ws`. */
  url: string;
  connections: number;
  /** Connections this node accepts (MAX_CONNECTIONS). */
  capacity: number;
  /** Relative weight for the weighted strategy. @default 1 */
  weight: number;
  /** Process CPU use over the last heartbeat interval, 0..1 per core. */
  cpu: number;
  /** Event-loop delay p99 over the last interval, ms. */
  eventLoopLagMs: number;
  health: 'healthy' | 'draining' | 'unhealthy';
  /** When this record was written, ms since the epoch. */
  updatedAt: number;
}

/** Where nodes find each other. Memory: this process only; Redis: the cluster. */
export interface NodeRegistry {
  /** Writes (or refreshes) a node's record. */
  heartbeat(info: NodeInfo): Promise<void>;
  /** Live nodes: records refreshed within the registry's TTL. */
  list(): Promise<NodeInfo[]>;
  deregister(node: string): Promise<void>;
  close(): Promise<void>;
}
