export {
  WebPushProvider,
  DEFAULT_TTL_SECONDS,
  topicFor,
  urgencyFor,
  webPushPayload,
  type PreparedPush,
  type WebPushProviderOptions,
} from './provider.ts';
export { generateVapidKeys, VapidSigner, type VapidKeys, type VapidOptions } from './vapid.ts';
export { decodeSubscriptionKeys, encryptAes128gcm, MAX_PLAINTEXT_BYTES, RECORD_SIZE } from './ece.ts';
