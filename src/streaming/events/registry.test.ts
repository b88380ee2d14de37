import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BadRequestError } from '../../core/errors/index.ts';
import { IncompatibleSchemaError, musicEventRegistry, SchemaRegistry, type JsonSchema } from './index.ts';

const v1: JsonSchema = {
  type: 'object',
  properties: {
    trackId: { type: 'string' },
    plays: { type: 'integer' },
    mood: { type: 'string', enum: ['calm', 'hype'] },
  },
  required: ['trackId'],
};
const evolve = (patch: (s: JsonSchema) => void): JsonSchema => {
  const s = structuredClone(v1);
  patch(s);
  return s;
};
function refused(next: JsonSchema): string[] {
  const r = new SchemaRegistry();
  r.register('t', v1);
  try {
    r.register('t', next);
  } catch (err) {
    expect(err).toBeInstanceOf(IncompatibleSchemaError);
    expect(r.latest('t')).toBe(1); // a refused version changes nothing
    return (err as IncompatibleSchemaError).problems;
  }
  return [];
}

describe('BACKWARD compatibility at registration', () => {
  it('accepts an optional new field, a new required field with a default, a widened type, a grown enum, a removed field', () => {
    expect(refused(evolve((s) => (s.properties!['source'] = { type: 'string' })))).toEqual([]);
    expect(
      refused(
        evolve(
          (s) => ((s.properties!['source'] = { type: 'string', default: 'app' }), s.required!.push('source')),
        ),
      ),
    ).toEqual([]);
    expect(refused(evolve((s) => (s.properties!['plays'] = { type: 'number' })))).toEqual([]);
    expect(refused(evolve((s) => (s.properties!['mood']!.enum = ['calm', 'hype', 'sad'])))).toEqual([]);
    expect(refused(evolve((s) => delete s.properties!['plays']))).toEqual([]);
  });

  it.each([
    [
      'a new required field without a default',
      (s: JsonSchema) => ((s.properties!['source'] = { type: 'string' }), s.required!.push('source')),
      'source: new required field without a default',
    ],
    [
      'a changed type',
      (s: JsonSchema) => (s.properties!['plays'] = { type: 'string' }),
      'plays: type "integer" changed to "string"',
    ],
    ['a narrowed type', (s: JsonSchema) => (s.properties!['plays'] = { type: 'boolean' }), 'plays: type'],
    [
      'an optional field made required',
      (s: JsonSchema) => s.required!.push('plays'),
      'plays: became required without a default',
    ],
    [
      'a removed enum value',
      (s: JsonSchema) => (s.properties!['mood']!.enum = ['calm']),
      'mood: enum values removed ["hype"]',
    ],
  ])('refuses %s', (_name, patch, problem) => {
    expect(refused(evolve(patch)).join('; ')).toContain(problem);
  });
});

describe('reading older versions', () => {
  it('upgrades v1 data to the newest version, step by step', () => {
    const r = new SchemaRegistry();
    r.register('t', v1);
    r.register(
      't',
      evolve(
        (s) => ((s.properties!['source'] = { type: 'string', default: 'app' }), s.required!.push('source')),
      ),
    );
    r.register(
      't',
      {
        ...evolve(
          (s) => (
            (s.properties!['source'] = { type: 'string', default: 'app' }),
            (s.properties!['playsTotal'] = { type: 'integer' })
          ),
        ),
      },
      (d) => ({ ...d, playsTotal: d['plays'] ?? 0 }),
    );
    expect(r.read('t', { trackId: 'x', plays: 3 }, 1)).toEqual({
      v: 3,
      data: { trackId: 'x', plays: 3, source: 'app', playsTotal: 3 },
    });
    expect(r.read('t', { trackId: 'x', source: 'radio' }, 2)).toEqual({
      v: 3,
      data: { trackId: 'x', source: 'radio', playsTotal: 0 },
    });
    expect(r.read('t', { trackId: 'x', source: 'web', playsTotal: 9 })).toEqual({
      v: 3,
      data: { trackId: 'x', source: 'web', playsTotal: 9 },
    });
  });

  it('refuses invalid data with every field named, unknown types and versions', () => {
    const r = musicEventRegistry();
    const err = (() => {
      try {
        r.read('track.played', { trackId: '', durationMs: -1, playedMs: 'x' });
      } catch (e) {
        return e as BadRequestError;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(BadRequestError);
    for (const w of ['artistId is required', 'data.trackId', 'data.durationMs', 'data.playedMs'])
      expect(err!.message).toContain(w);
    expect(() => r.read('track.hummed', {})).toThrow('unknown event type "track.hummed"');
    expect(() => r.read('track.liked', { trackId: 'a', artistId: 'b' }, 2)).toThrow('has no version 2');
    expect(r.read('app.opened', { platform: 'ios' })).toEqual({ v: 1, data: { platform: 'ios' } });
    expect(() => r.read('app.opened', { platform: 'fridge' })).toThrow('data.platform');
  });

  it('the v1 music events of SPEC §5 are all registered', () => {
    expect(musicEventRegistry().types.sort()).toEqual([
      'app.opened',
      'notification.opened',
      'playlist.track_added',
      'track.liked',
      'track.played',
      'track.skipped',
    ]);
  });

  it('never throws anything but a 4400 BadRequestError on arbitrary input', () => {
    const r = musicEventRegistry();
    fc.assert(
      fc.property(
        fc.constantFrom(...r.types, 'nope'),
        fc.jsonValue(),
        fc.option(fc.integer({ min: -2, max: 3 })),
        (type, data, v) => {
          try {
            r.read(type, data, v ?? undefined);
          } catch (e) {
            expect(e).toBeInstanceOf(BadRequestError);
            expect((e as BadRequestError).wsCode).toBe(4400);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
