import type { JsonSchema } from './compat.ts';
import { SchemaRegistry } from './registry.ts';

const id = { type: 'string', minLength: 1, maxLength: 128 } as const;
const ms = { type: 'integer', minimum: 0, maximum: 86_400_000 } as const;

/** The v1 music event types of SPEC §5. */
export const MUSIC_EVENTS_V1: Record<string, JsonSchema> = {
  'track.played': {
    type: 'object',
    properties: { trackId: id, artistId: id, durationMs: ms, playedMs: ms, context: { type: 'object' } },
    required: ['trackId', 'artistId', 'durationMs', 'playedMs'],
  },
  'track.skipped': {
    type: 'object',
    properties: { trackId: id, artistId: id, positionMs: ms },
    required: ['trackId', 'artistId', 'positionMs'],
  },
  'track.liked': {
    type: 'object',
    properties: { trackId: id, artistId: id },
    required: ['trackId', 'artistId'],
  },
  'playlist.track_added': {
    type: 'object',
    properties: { playlistId: id, trackId: id },
    required: ['playlistId', 'trackId'],
  },
  'notification.opened': { type: 'object', properties: { notificationId: id }, required: ['notificationId'] },
  'app.opened': {
    type: 'object',
    properties: { platform: { type: 'string', enum: ['ios', 'android', 'web', 'desktop'] } },
    required: ['platform'],
  },
};

/** A registry with the v1 music events registered. */
export function musicEventRegistry(): SchemaRegistry {
  const r = new SchemaRegistry();
  for (const [type, schema] of Object.entries(MUSIC_EVENTS_V1)) r.register(type, schema);
  return r;
}
