/**
 * Channel names (SPEC §3): `namespace:name`, namespace `[a-z][a-z0-9_-]{0,31}`, name
 * `[A-Za-z0-9_.@=-]{1,128}` with colons allowed inside the name.
 */
export const CHANNEL_PATTERN = '^[a-z][a-z0-9_-]{0,31}:[A-Za-z0-9_.@=:-]{1,128}$';
const CHANNEL_RE = new RegExp(CHANNEL_PATTERN);
export const CHANNEL_MAX_LENGTH = 32 + 1 + 128;

export function isValidChannel(ch: unknown): ch is string {
  return (
    typeof ch === 'string' && ch.length <= CHANNEL_MAX_LENGTH && CHANNEL_RE.test(ch) && !ch.endsWith(':')
  );
}

export function channelError(ch: unknown): string {
  if (typeof ch !== 'string') return 'channel must be a string';
  return `channel ${JSON.stringify(ch.slice(0, 200))} is not namespace:name (namespace [a-z][a-z0-9_-]{0,31}, name [A-Za-z0-9_.@=:-]{1,128})`;
}
