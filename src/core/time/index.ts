export { ManualClock, systemClock, type Clock, type TimerHandle } from './clock.ts';
