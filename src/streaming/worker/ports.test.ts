/**
 * The worker's ports (ports.ts) and the message protocol (rpc.ts) on their own: every
 * DeadLetterStore call is forwarded as is, what the worker must not do throws, and
 * requests time out, fail with the peer, and carry errors across with their code.
 */
import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { BackbeatError } from '../../core/errors/index.ts';
import { PortDeadLetterStore, PortEventLog, type MainCall } from './ports.ts';
import { RpcPeer } from './rpc.ts';

const recorder = () => {
  const calls: Array<[string, unknown[]]> = [];
  const call = (async (op: string, args: unknown[]) => {
    calls.push([op, args]);
    if (op === 'consume' && args[1] === 'refused') throw new Error('no');
    return op === 'heads' ? { 0: 7 } : undefined;
  }) as MainCall;
  return { calls, call };
};

describe('PortDeadLetterStore', () => {
  it('forwards every call to the main thread', async () => {
    const { calls, call } = recorder();
    const dlq = new PortDeadLetterStore(call);
    await dlq.list({ limit: 3 });
    await dlq.get(['a']);
    await dlq.remove(['a']);
    await dlq.count();
    await dlq.take({ limit: 1, leaseMs: 5 });
    await dlq.release(['a']);
    await dlq.forUser('u');
    await dlq.eraseUser('u');
    await dlq.close();
    expect(calls.map(([, [method]]) => method)).toEqual([
      'list',
      'get',
      'remove',
      'count',
      'take',
      'release',
      'forUser',
      'eraseUser',
    ]);
    expect(calls[0]).toEqual(['dlq', ['list', [{ limit: 3 }]]]);
  });
});

describe('PortEventLog', () => {
  it('reads heads over the port and refuses what the main thread does', async () => {
    const { calls, call } = recorder();
    const log = new PortEventLog('kafka', call);
    await log.start();
    expect(log.kind).toBe('kafka');
    expect(await log.heads()).toEqual({ 0: 7 });
    expect(log.health()).toEqual({ ok: true });
    expect(() => log.append()).toThrow(/main thread/);
    expect(() => log.readKey()).toThrow(/main thread/);
    expect(() => log.eraseKey()).toThrow(/main thread/);
    await expect(log.deliver(9, { partition: 0, records: [], replay: false })).rejects.toThrow(
      /no consumer 9/,
    );
    await expect(log.consume('refused', async () => undefined)).rejects.toThrow('no');
    const seen: number[] = [];
    const c = await log.consume('g', async (b) => void seen.push(b.partition), {
      from: 'earliest',
      maxBatch: 5,
    });
    await log.deliver(2, { partition: 3, records: [], replay: true });
    expect(seen).toEqual([3]);
    await c.close();
    await c.close(); // idempotent
    await log.close();
    expect(calls.filter(([op]) => op !== 'heads')).toEqual([
      ['consume', [1, 'refused', 'committed', 500]],
      ['consume', [2, 'g', 'earliest', 5]],
      ['consumerClose', [2]],
    ]);
  });
});

describe('RpcPeer', () => {
  const channels: MessageChannel[] = [];
  afterEach(() => {
    for (const c of channels.splice(0)) {
      c.port1.close();
      c.port2.close();
    }
  });
  const pair = (handlers: Record<string, (...args: never[]) => unknown>) => {
    const c = new MessageChannel();
    channels.push(c);
    const a = new RpcPeer(c.port1, {});
    new RpcPeer(c.port2, handlers);
    return a;
  };

  it('answers, and carries errors across with their code and retriable flag', async () => {
    const a = pair({
      add: (x: number, y: number) => x + y,
      bad: () => {
        throw new BackbeatError('BAD_REQUEST', 'nope');
      },
      flaky: async () => {
        throw Object.assign(new Error('later'), { retriable: true });
      },
      odd: () => {
        throw 'a string'; // eslint-disable-line @typescript-eslint/only-throw-error -- a non-Error crosses too
      },
    });
    expect(await a.call('add', [2, 3])).toBe(5);
    await expect(a.call('bad')).rejects.toMatchObject({ key: 'BAD_REQUEST', message: 'nope' });
    await expect(a.call('flaky')).rejects.toMatchObject({ message: 'later', retriable: true });
    await expect(a.call('odd')).rejects.toThrow('a string');
    await expect(a.call('missing')).rejects.toThrow(/unknown stream worker operation missing/);
  });

  it('times out, and fails every pending and later call once the peer is gone', async () => {
    const a = pair({ never: () => new Promise(() => undefined) });
    await expect(a.call('never', [], 20)).rejects.toMatchObject({ key: 'UNAVAILABLE' });
    const pending = a.call('never', [], 0);
    a.fail(() => new Error('gone'));
    await expect(pending).rejects.toThrow('gone');
    await expect(a.call('never')).rejects.toThrow('gone');
  });
});
