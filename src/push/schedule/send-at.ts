/**
 * When to send: the next time it is a given local hour in a user's zone (`sendAt:
 * "optimal"`, SPEC §6), DST-correct.
 */
import { BadRequestError } from '../../core/errors/index.ts';
import { HOUR_MS, localHour as hourAt, nextWallInstant, offsetChangeBetween } from './zoned.ts';

function assertHour(localHour: number): void {
  if (!Number.isInteger(localHour) || localHour < 0 || localHour > 23) {
    throw new BadRequestError(`localHour must be an integer 0–23, got ${String(localHour)}`);
  }
}

/**
 * The first instant at or after `nowMs` at which it is `localHour` o'clock in `timezone`:
 * - `nowMs` itself when the local hour is already `localHour` (the user's hour is now);
 * - else `localHour:00` later today or tomorrow (local): at most 23 h ahead on the local
 *   clock, so at most 24 h of real time when the clocks go back an hour in between (25 h
 *   at Antarctica/Troll, whose clocks go back 2 h);
 * - or the moment clocks going back return to that hour (Pacific/Chatham: 03:44:59 → 02:45);
 * - an hour the clocks skip that day (Europe/Paris 02:00 on the last Sunday of March) is
 *   reached at the transition instant, when the clocks jump past it (03:00 CEST);
 * - an hour that happens twice (America/New_York 01:00 on the first Sunday of November) is
 *   taken at its first occurrence.
 */
export function nextSendTime(nowMs: number, localHour: number, timezone: string): number {
  assertHour(localHour);
  if (hourAt(nowMs, timezone) === localHour) return nowMs;
  const at = nextWallInstant(nowMs, localHour, 0, timezone) ?? nowMs + 24 * HOUR_MS; // `??`: unreachable for real zones
  // Clocks going back can return to the hour without passing its :00 again (Pacific/Chatham
  // goes from 03:44:59 back to 02:45): then the hour starts at that change.
  const change = offsetChangeBetween(nowMs, at, timezone);
  return change !== undefined && change < at && hourAt(change, timezone) === localHour ? change : at;
}
