import type { Steps } from '../snapshots/steps.ts';
import type { ItemGraph, ItemState, KnnState } from './graph.ts';
import { ialsSteps, type IalsModel, type IalsRow } from './ials.ts';
import type { KnnUser } from './knn-users.ts';

/** item-knn's latent factors: an implicit-ALS model over the users' profiles, and the tracks of its rows. */
export interface KnnFactors {
  model: IalsModel;
  /** Row i's track as it was at training time (`graph.live` it before use: it may have been evicted since). */
  items: readonly (ItemState | undefined)[];
  /** Every track in the training rows (modelled or not): the factors abstain only on the others (new since the training). */
  known: ReadonlySet<string>;
  /** Training rows (users with a positive profile track) and their profile entries. */
  users: number;
  nnz: number;
  /** CPU-bound wall time of the training, ms (all steps, not what ran between them). */
  trainMs: number;
}

/**
 * The training rows: the profile tracks with positive net feedback of the `factorMaxUsers`
 * most recently active users, weight = that net feedback (plays 1, likes and adds 2, minus
 * skips; undecayed), least recently active user first. O(users · profileSize). Read at
 * once, so the model may keep learning while the training runs in steps.
 */
export function profileRows(st: KnnState): IalsRow[] {
  const rows: IalsRow[] = [];
  let skip = st.users.size - st.o.factorMaxUsers;
  for (const [, u] of st.users.oldestFirst()) {
    if (skip-- > 0) continue;
    const row = rowOf(u);
    if (row.length) rows.push(row);
  }
  return rows;
}

function rowOf(u: KnnUser): [string, number][] {
  const row: [string, number][] = [];
  for (const p of u.profile) if (p.w > 0) row.push([p.trackId, p.w]);
  return row;
}

/**
 * Trains factors from the current profiles in steps (ials.ts `ialsSteps`: a checkpoint every
 * 64 row solves). The result names tracks as they are when the training ends.
 */
export function* trainFactorSteps(st: KnnState, previous?: KnnFactors): Steps<KnnFactors> {
  const { o, graph } = st;
  const rows = profileRows(st);
  let nnz = 0;
  const known = new Set<string>();
  for (const r of rows) {
    nnz += r.length;
    for (const [k] of r) known.add(k);
  }
  let trainMs = 0;
  let t0 = performance.now();
  const warm = previous && o.factorWarmIterations > 0 ? previous.model : undefined;
  const steps = ialsSteps(
    rows,
    {
      factors: o.factors,
      reg: o.factorReg,
      alpha: o.factorAlpha,
      iterations: warm ? o.factorWarmIterations : o.factorIterations,
      seed: o.factorSeed,
      maxItems: o.factorItems,
    },
    warm,
  );
  for (;;) {
    const r = steps.next();
    trainMs += performance.now() - t0;
    if (r.done) {
      const model = r.value;
      return {
        model,
        items: model.keys.map((k) => graph.items.peek(k)),
        known,
        users: rows.length,
        nnz,
        trainMs,
      };
    }
    yield;
    t0 = performance.now();
  }
}

/** What a query needs from the factors: the user's score for every modelled track, and their profile rows. */
export interface FactorQuery {
  f: KnnFactors;
  scores: Float64Array;
  /** The user's profile tracks among the modelled ones: row index, track id, kind, item (for the reason). */
  seeds: { idx: number; trackId: string; kind: ProfileKind }[];
}

type ProfileKind = KnnUser['profile'][number]['kind'];

/** Folds the user in from their profile (O(profile · f² + f³)) and scores every modelled track (O(K · f)); undefined when the user has no modelled profile track. */
export function factorQuery(f: KnnFactors, user: KnnUser | undefined): FactorQuery | undefined {
  if (!user) return undefined;
  const idx: number[] = [];
  const w: number[] = [];
  const seeds: FactorQuery['seeds'] = [];
  for (const p of user.profile) {
    if (!(p.w > 0)) continue;
    const i = f.model.index.get(p.trackId);
    if (i === undefined) continue;
    idx.push(i);
    w.push(p.w);
    seeds.push({ idx: i, trackId: p.trackId, kind: p.kind });
  }
  if (idx.length === 0) return undefined;
  const x = f.model.foldInIndexed(idx, w);
  if (!x) return undefined;
  return { f, scores: f.model.scores(x), seeds };
}

/** Row i's live track, or undefined (evicted and not back). */
export function factorItem(graph: ItemGraph, f: KnnFactors, i: number): ItemState | undefined {
  const it = f.items[i];
  if (it) return graph.live(it);
  const k = f.model.keys[i];
  return k === undefined ? undefined : graph.items.peek(k);
}
