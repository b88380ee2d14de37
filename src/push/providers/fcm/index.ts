export { FcmProvider, FCM_URL, type FcmProviderOptions } from './provider.ts';
export {
  buildFcmBody,
  classifyFcmResponse,
  parseFcmError,
  FCM_MAX_TTL_SECONDS,
  type FcmSendBody,
} from './message.ts';
export {
  AccessTokenError,
  AccessTokenSource,
  FCM_SCOPE,
  parseServiceAccount,
  type ServiceAccount,
} from './oauth.ts';
export { parseRetryAfter } from './retry-after.ts';
