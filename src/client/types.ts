import type { TrackedPublication } from './tracker.ts';

export interface ClientInfo {
  user: string;
  client?: string;
}

export interface HistoryResult {
  offset: number;
  epoch: string;
  publications: TrackedPublication[];
}

export interface ConnectedInfo {
  client: string;
  user: string;
  node: string;
  session: string;
  ttl: number;
  ping: number;
}

export type Publication = TrackedPublication;
