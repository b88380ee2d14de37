/** Scheduling in users' time zones (#9): next send time at a local hour, quiet hours; DST-correct, pure. */
export {
  assertTimeZone,
  instantAtWall,
  instantsAtWall,
  intlLocalTime,
  InvalidTimeZoneError,
  isValidTimeZone,
  localHour,
  localMinuteOfDay,
  localTime,
  nextWallInstant,
  offsetAt,
  offsetChangeBetween,
  wallMs,
  wallOf,
  DAY_MS,
  HOUR_MS,
  MINUTE_MS,
  type LocalTime,
} from './zoned.ts';
export { nextSendTime } from './send-at.ts';
export {
  inQuietHours,
  parseClock,
  quietHoursEnd,
  validateQuietHours,
  type QuietHours,
} from './quiet-hours.ts';
