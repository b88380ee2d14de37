/** Crypto-shredding of the Kafka event log (SPEC §7): per-user AES-256-GCM data keys in a SQL key store. */
export { SqlKeyStore, type KeyLookup, type SqlKeyStoreOptions, type UserKey } from './keys.ts';
export {
  UserKeyCipher,
  SEALED_PREFIX,
  kidOf,
  type RecordCipher,
  type UserKeyCipherOptions,
} from './cipher.ts';
export { openKeyStore, type KeyStoreConfig } from './open.ts';
