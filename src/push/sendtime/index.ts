/** Send-time optimization (#9): each user's best local hour from their own opens; simulator and evaluation; pure. */
export {
  InvalidSendTimeSnapshotError,
  SendTimeModel,
  SEND_TIME_DEFAULTS,
  type BestHour,
  type SendTimeInit,
  type SendTimeOptions,
  type SendTimeSignal,
  type SendTimeSnapshot,
} from './model.ts';
export {
  generateSendTimeData,
  hourDistance,
  SIM_DEFAULTS,
  type SendTimeDataset,
  type SendTimeSimOptions,
  type SimEvent,
  type SimUser,
} from './simulate.ts';
export {
  bestFixedHour,
  evaluateSendTime,
  policyResult,
  POLICY,
  SEND_TIME_BAR,
  sendTimeVerdict,
  type PolicyResult,
  type SendTimeReport,
  type SendTimeVerdict,
} from './evaluate.ts';
