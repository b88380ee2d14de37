/**
 * Crash safety of the embedded event stream with a real node process: every event
 * acknowledged with 202 before `kill -9` is processed after the restart (counted once),
 * and the recommendation model's state is rebuilt from the log (same answers as before).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { signHs256 } from '../../src/core/auth/index.ts';
import { freePort, NodeProcess } from '../helpers/processes.ts';
import { TEST_SECRET } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

const nodes: NodeProcess[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

describe('embedded stream across kill -9', () => {
  it(
    'acknowledged events survive and are processed after restart; the model is rebuilt',
    { timeout: 120_000 },
    async () => {
      const node = new NodeProcess(await freePort(), { JWT_SECRET: TEST_SECRET, NODE_ID: 'crash-1' });
      nodes.push(node);
      await node.start();
      const token = await signHs256(TEST_SECRET, { sub: 'svc', scope: 'admin' }, 3600);
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      const t0 = Date.now();
      // A few listeners with one taste, so the model has something to say about "c-0".
      const taste = Array.from({ length: 4 }, (_, u) =>
        ['c-0', 'c-1', 'c-2', 'c-3'].map((trackId, i) => ({
          type: 'track.played',
          userId: `fan-${u}`,
          ts: t0 + u * 1_000_000 + i * 200_000,
          data: { trackId, artistId: 'artist-c', durationMs: 200_000, playedMs: 200_000 },
        })),
      )
        .flat()
        .filter((e) => !(e.userId === 'fan-0' && (e.data.trackId === 'c-2' || e.data.trackId === 'c-3')));
      expect(
        (await fetch(`${node.url}/v1/events`, { method: 'POST', headers, body: JSON.stringify(taste) }))
          .status,
      ).toBe(202);
      await until(
        async () =>
          ((await (await fetch(`${node.url}/v1/tracks/c-3/stats`, { headers })).json()) as { plays: number })
            .plays === 3,
        'taste processed',
      );
      type Recs = { items: Array<{ trackId: string }>; model: string; updatedAt: string };
      const recs = async () => {
        const r = (await (
          await fetch(`${node.url}/v1/users/fan-0/recommendations?limit=2`, { headers })
        ).json()) as Recs;
        return { ids: r.items.map((i) => i.trackId), model: r.model, updatedAt: r.updatedAt };
      };
      const before = await recs();
      expect(before).toMatchObject({ ids: ['c-2', 'c-3'], model: 'item-knn' });

      // Now a stream of acknowledged batches, killed mid-stream without warning.
      let acked = 0;
      const sending = (async () => {
        for (let b = 0; b < 1000; b++) {
          const batch = Array.from({ length: 50 }, (_, i) => ({
            type: 'track.played',
            userId: `listener-${(b * 50 + i) % 97}`,
            ts: t0 + 5_000_000 + b,
            data: { trackId: 'crash-track', artistId: 'artist-x', durationMs: 100_000, playedMs: 90_000 },
          }));
          try {
            const res = await fetch(`${node.url}/v1/events`, {
              method: 'POST',
              headers,
              body: JSON.stringify(batch),
            });
            if (res.status !== 202) break;
            acked += ((await res.json()) as { accepted: number }).accepted;
          } catch {
            break; // the process is gone: this batch was not acknowledged
          }
        }
      })();
      await until(() => acked >= 2000, '2000 events acknowledged');
      await node.kill();
      await sending;

      await node.start();
      await until(
        async () =>
          (
            (await (await fetch(`${node.url}/v1/tracks/crash-track/stats`, { headers })).json()) as {
              plays: number;
            }
          ).plays >= acked,
        'every acknowledged play processed after the restart',
      );
      const stats = (await (await fetch(`${node.url}/v1/tracks/crash-track/stats`, { headers })).json()) as {
        plays: number;
      };
      // At least every acknowledged one; at most one more batch (appended, killed before its 202).
      expect(stats.plays).toBeGreaterThanOrEqual(acked);
      expect(stats.plays).toBeLessThanOrEqual(acked + 50);
      expect(await recs()).toEqual(before);
    },
  );
});
