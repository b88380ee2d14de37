/** Shared by the APNs e2e suites: a client wired to a local APNs server, messages, device tokens. */
import { ApnsProvider, type ApnsProviderOptions } from '../../src/push/providers/apns/index.ts';
import type { PushMessage, PushOutcome, PushTarget } from '../../src/push/providers/types.ts';
import type { ApnsTestServer } from '../helpers/push-servers/apns-server.ts';

/** A 64-hex-digit device token, distinct per `n`. */
export const deviceToken = (n: number): string => n.toString(16).padStart(64, 'a');

export const ios = (token: string): PushTarget => ({ platform: 'ios', token });

export function message(id: string, over: Partial<PushMessage> = {}): PushMessage {
  return {
    notificationId: id,
    title: 'New release',
    body: 'Your artist dropped an album',
    priority: 'normal',
    ...over,
  };
}

/** Everything the tests watch through the provider's hooks. */
export class Watch {
  streams: Array<{ inFlight: number; limit: number }> = [];
  resends: string[] = [];
  renewals: string[] = [];
  sessionEvents: string[] = [];
  outcomes: PushOutcome[] = [];
}

export function clientFor(
  server: ApnsTestServer,
  over: Partial<ApnsProviderOptions> = {},
  watch = new Watch(),
): ApnsProvider {
  return new ApnsProvider({
    key: server.key.privateKeyPem,
    keyId: server.key.keyId,
    teamId: server.key.teamId,
    topic: server.topic,
    url: server.url,
    requestTimeoutMs: 10_000,
    hooks: {
      onStream: (s) => watch.streams.push(s),
      onResend: (r) => watch.resends.push(r),
      onTokenRenewed: (why) => watch.renewals.push(why),
      onSession: (e, d) => watch.sessionEvents.push(d === undefined ? e : `${e}:${d}`),
      onOutcome: (o) => watch.outcomes.push(o),
    },
    ...over,
  });
}

/** Sends `n` messages at once (ids `${prefix}${i}`) to one device; resolves with the outcomes by id. */
export async function burst(
  client: ApnsProvider,
  n: number,
  prefix: string,
  token = deviceToken(1),
): Promise<Map<string, PushOutcome>> {
  const ids = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  const outcomes = await Promise.all(ids.map((id) => client.send(ios(token), message(id))));
  return new Map(ids.map((id, i) => [id, outcomes[i]!]));
}

/** How many times the server accepted each notificationId. */
export function acceptedCounts(server: ApnsTestServer): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of server.requests) {
    const id = String(r.payload.notificationId);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}
