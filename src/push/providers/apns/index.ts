export {
  ApnsProvider,
  APNS_PRODUCTION_URL,
  APNS_SANDBOX_URL,
  type ApnsHooks,
  type ApnsProviderOptions,
} from './provider.ts';
export { buildPayload, MAX_PAYLOAD_BYTES } from './request.ts';
export { toOutcome, parseRetryAfter, type ApnsExchange } from './outcome.ts';
export type { TokenRenewal } from './token.ts';
