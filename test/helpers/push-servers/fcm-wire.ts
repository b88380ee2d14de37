/**
 * Google's side of the FCM HTTP v1 wire, for the local FCM service (fcm-server.ts): the
 * error JSON (`{"error":{code,message,status,details}}` with FcmError / BadRequest
 * details, https://firebase.google.com/docs/cloud-messaging/error-codes), the checks FCM
 * makes of a Message, and the token endpoint's checks of a JWT-bearer assertion.
 */
import { randomBytes, verify, type KeyObject } from 'node:crypto';

export type FcmErrorCode =
  | 'UNREGISTERED'
  | 'INVALID_ARGUMENT'
  | 'SENDER_ID_MISMATCH'
  | 'THIRD_PARTY_AUTH_ERROR'
  | 'QUOTA_EXCEEDED'
  | 'UNAVAILABLE'
  | 'INTERNAL'
  | 'UNSPECIFIED_ERROR'
  | 'PERMISSION_DENIED';

const ERRORS: Record<FcmErrorCode, { http: number; status: string; message: string }> = {
  UNREGISTERED: { http: 404, status: 'NOT_FOUND', message: 'Requested entity was not found.' },
  INVALID_ARGUMENT: {
    http: 400,
    status: 'INVALID_ARGUMENT',
    message: 'The registration token is not a valid FCM registration token',
  },
  SENDER_ID_MISMATCH: { http: 403, status: 'PERMISSION_DENIED', message: 'SenderId mismatch' },
  THIRD_PARTY_AUTH_ERROR: {
    http: 401,
    status: 'UNAUTHENTICATED',
    message: 'Auth error from APNS or Web Push Service',
  },
  QUOTA_EXCEEDED: {
    http: 429,
    status: 'RESOURCE_EXHAUSTED',
    message: 'Quota exceeded for quota metric "Send requests".',
  },
  UNAVAILABLE: { http: 503, status: 'UNAVAILABLE', message: 'The service is currently unavailable.' },
  INTERNAL: { http: 500, status: 'INTERNAL', message: 'Internal error encountered.' },
  UNSPECIFIED_ERROR: { http: 500, status: 'UNKNOWN', message: 'Unknown error.' },
  PERMISSION_DENIED: {
    http: 403,
    status: 'PERMISSION_DENIED',
    message: "Permission 'cloudmessaging.messages.create' denied.",
  },
};
const FCM_ERROR_TYPE = 'type.googleapis.com/google.firebase.fcm.v1.FcmError';
const SCOPES = [
  'https://www.googleapis.com/auth/firebase.messaging',
  'https://www.googleapis.com/auth/cloud-platform',
];
const RESERVED_DATA_KEY = /^(from|message_type|notification|google\..*|gcm\..*)$/;
const TTL_RE = /^\d+(\.\d{1,9})?s$/;
const TOKEN_RE = /^[A-Za-z0-9_:-]+$/;

export type Reply = { http: number; body: unknown; headers?: Record<string, string> };

export function googleError(http: number, status: string, message: string, details: unknown[] = []): Reply {
  return { http, body: { error: { code: http, message, status, details } } };
}
export function fcmError(code: FcmErrorCode, retryAfter?: string): Reply {
  const e = ERRORS[code];
  const details: unknown[] =
    code === 'PERMISSION_DENIED' ? [] : [{ '@type': FCM_ERROR_TYPE, errorCode: code }];
  if (code === 'INVALID_ARGUMENT') {
    details.push({
      '@type': 'type.googleapis.com/google.rpc.BadRequest',
      fieldViolations: [{ field: 'message.token', description: 'Invalid registration token' }],
    });
  }
  const reply = googleError(e.http, e.status, e.message, details);
  if (retryAfter !== undefined) reply.headers = { 'retry-after': retryAfter };
  return reply;
}
export function badRequest(field: string, message: string): Reply {
  return googleError(400, 'INVALID_ARGUMENT', message, [
    {
      '@type': 'type.googleapis.com/google.rpc.BadRequest',
      fieldViolations: [{ field, description: message }],
    },
  ]);
}
export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Google's answer for a field of the wrong type or format. */
const invalid = (field: string, value?: unknown): Reply =>
  badRequest(field, `Invalid value at '${field}'${value === undefined ? '' : `, ${JSON.stringify(value)}`}`);
const validTtl = (ttl: unknown): boolean =>
  typeof ttl === 'string' && TTL_RE.test(ttl) && parseFloat(ttl) <= 2_419_200;

/** Checks a Message the way FCM does; `undefined` when it may be sent. */
export function validateMessage(m: unknown): Reply | undefined {
  if (!isRecord(m)) return badRequest('message', 'Recipient of the message is not set.');
  const targets = ['token', 'topic', 'condition'].filter((k) => m[k] !== undefined);
  if (targets.length === 0) return badRequest('message', 'Recipient of the message is not set.');
  if (targets.length > 1) return badRequest('message', "oneof field 'target' is already set");
  const { token, data, notification: n, android } = m;
  if (token !== undefined && (typeof token !== 'string' || !TOKEN_RE.test(token))) {
    return fcmError('INVALID_ARGUMENT');
  }
  if (data !== undefined) {
    if (!isRecord(data)) return invalid('message.data');
    for (const [i, [key, value]] of Object.entries(data).entries()) {
      if (typeof value !== 'string') return invalid(`message.data[${i}].value`, value);
      if (RESERVED_DATA_KEY.test(key)) {
        return badRequest(`message.data[${i}].key`, `Invalid data payload key: ${key}`);
      }
    }
  }
  if (
    n !== undefined &&
    (!isRecord(n) || [n['title'], n['body']].some((v) => v !== undefined && typeof v !== 'string'))
  ) {
    return invalid('message.notification');
  }
  if (android !== undefined) {
    if (!isRecord(android)) return invalid('message.android');
    const { priority, ttl, collapse_key: collapse } = android;
    if (priority !== undefined && priority !== 'NORMAL' && priority !== 'HIGH') {
      return invalid('message.android.priority', priority);
    }
    if (ttl !== undefined && !validTtl(ttl)) return invalid('message.android.ttl', ttl);
    if (collapse !== undefined && typeof collapse !== 'string')
      return invalid('message.android.collapse_key', collapse);
  }
  if (Buffer.byteLength(JSON.stringify({ notification: n, data })) > 4096) {
    return googleError(400, 'INVALID_ARGUMENT', 'Android message is too big', [
      { '@type': FCM_ERROR_TYPE, errorCode: 'INVALID_ARGUMENT' },
    ]);
  }
  return undefined;
}

const SHORT_LIVED =
  'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.';

/** Google's checks of a JWT-bearer assertion; the `error_description` when it is refused. */
export function checkAssertion(
  jwt: string,
  key: KeyObject,
  email: string,
  tokenUrl: string,
  nowMs: number,
): string | undefined {
  const [h, c, s] = jwt.split('.');
  if (h === undefined || c === undefined || s === undefined) return 'Invalid JWT.';
  let claims: Record<string, unknown>;
  try {
    const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>;
    if (header['alg'] !== 'RS256') return 'Invalid JWT: alg must be RS256.';
    if (!verify('sha256', Buffer.from(`${h}.${c}`), key, Buffer.from(s, 'base64url')))
      return 'Invalid JWT Signature.';
    claims = JSON.parse(Buffer.from(c, 'base64url').toString()) as Record<string, unknown>;
  } catch {
    return 'Invalid JWT.';
  }
  const { iss, aud, scope, iat, exp } = claims;
  const now = Math.floor(nowMs / 1000);
  if (iss !== email) return 'Invalid issuer.';
  if (aud !== tokenUrl) return 'Invalid JWT: audience mismatch.';
  if (typeof scope !== 'string' || !scope.split(' ').some((x) => SCOPES.includes(x)))
    return 'Invalid OAuth scope.';
  if (typeof iat !== 'number' || typeof exp !== 'number' || exp - iat > 3600 || exp <= iat)
    return SHORT_LIVED;
  if (iat > now + 60 || exp < now) return `${SHORT_LIVED} Check your iat and exp values.`;
  return undefined;
}

/** A service-account JSON file the way Google Cloud issues it. */
export function serviceAccountJson(
  projectId: string,
  privateKeyPem: string,
  tokenUri: string,
): Record<string, string> {
  const email = `firebase-adminsdk-test@${projectId}.iam.gserviceaccount.com`;
  return {
    type: 'service_account',
    project_id: projectId,
    private_key_id: randomBytes(20).toString('hex'),
    private_key: privateKeyPem,
    client_email: email,
    client_id: String(100000000000000000000n + BigInt(randomBytes(4).readUInt32BE())),
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: tokenUri,
    auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
    client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(email)}`,
    universe_domain: 'googleapis.com',
  };
}
