/**
 * The experiment analysis (src/push/experiments) as a decision procedure, by simulation:
 * users are split by the real `assignVariant` (SHA-256 of experiment name and user id) and
 * open with a seeded probability per variant; `analyze` names a winner or not.
 *
 * - A/A (no difference): a winner is a false positive; its rate must be close to α = 0.05
 *   (2,000 runs × 2,000 users: the standard error of the rate is ~0.005, so 0.02–0.08 is
 *   a ±6 SE band). With three identical variants the Bonferroni-corrected rate must stay
 *   at or below α (the bound is 0.75 α, see analyze.ts).
 * - A/B with a real lift (10 % → 14 % opens, 2,000 users per arm): the power must be high
 *   (≥ 0.9; the normal approximation gives ~0.97) and the winner always the better one.
 */
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src/core/random/index.ts';
import { analyze, assignVariant, type VariantCounts } from '../../src/push/experiments/index.ts';

interface Arm {
  name: string;
  weight: number;
  openRate: number;
}

/** One experiment: `users` users assigned by hash, each sent one notification, opened with the arm's rate. */
function simulate(experiment: string, arms: Arm[], users: number, seed: number): VariantCounts[] {
  const rng = mulberry32(seed);
  const counts = new Map(
    arms.map((a) => [a.name, { name: a.name, weight: a.weight, recipients: 0, sent: 0, opened: 0 }]),
  );
  for (let i = 0; i < users; i++) {
    const arm = assignVariant(experiment, `user-${i}`, arms);
    const c = counts.get(arm.name)!;
    c.recipients++;
    c.sent++;
    if (rng() < arm.openRate) c.opened++;
  }
  return [...counts.values()];
}

/** How often `analyze` names a winner over `runs` experiments, and which. */
function decide(
  prefix: string,
  arms: Arm[],
  users: number,
  runs: number,
  seed: number,
): Map<string | null, number> {
  const winners = new Map<string | null, number>();
  for (let run = 0; run < runs; run++) {
    const { winner } = analyze(simulate(`${prefix}-${run}`, arms, users, seed * 100_003 + run));
    winners.set(winner, (winners.get(winner) ?? 0) + 1);
  }
  return winners;
}

const rate = (winners: Map<string | null, number>, runs: number): number =>
  (runs - (winners.get(null) ?? 0)) / runs;

describe('experiment analysis by simulation', () => {
  it('A/A, 2,000 runs × 2,000 users: false-positive rate close to α = 0.05, both arms equally', () => {
    const runs = 2000;
    const winners = decide(
      'aa',
      [
        { name: 'a', weight: 1, openRate: 0.1 },
        { name: 'b', weight: 1, openRate: 0.1 },
      ],
      2000,
      runs,
      1,
    );
    const fpr = rate(winners, runs);
    console.log(
      `A/A false-positive rate: ${fpr.toFixed(4)} (a ${winners.get('a') ?? 0}, b ${winners.get('b') ?? 0} of ${runs})`,
    );
    expect(fpr).toBeGreaterThan(0.02);
    expect(fpr).toBeLessThan(0.08);
    // No side is favoured by the hash: each arm wins about half the false positives.
    expect(Math.abs((winners.get('a') ?? 0) - (winners.get('b') ?? 0))).toBeLessThan(0.5 * fpr * runs);
  });

  it('A/A with unequal weights (80/20), 600 runs × 2,000 users: still close to α', () => {
    const runs = 600;
    const fpr = rate(
      decide(
        'aa-80-20',
        [
          { name: 'a', weight: 4, openRate: 0.2 },
          { name: 'b', weight: 1, openRate: 0.2 },
        ],
        2000,
        runs,
        2,
      ),
      runs,
    );
    console.log(`A/A 80/20 false-positive rate: ${fpr.toFixed(4)}`);
    // SE ≈ 0.009 at 600 runs: a ±4 SE band.
    expect(fpr).toBeGreaterThan(0.015);
    expect(fpr).toBeLessThan(0.09);
  });

  it('A/A/A, 600 runs × 2,400 users: Bonferroni keeps false winners at or below α', () => {
    const runs = 600;
    const fpr = rate(
      decide(
        'aaa',
        ['a', 'b', 'c'].map((name) => ({ name, weight: 1, openRate: 0.1 })),
        2400,
        runs,
        3,
      ),
      runs,
    );
    console.log(`A/A/A false-positive rate: ${fpr.toFixed(4)}`);
    expect(fpr).toBeLessThanOrEqual(0.06);
  });

  it('A/B with a real lift (10 % → 14 %), 400 runs × 4,000 users: power ≥ 0.9, never the wrong winner', () => {
    const runs = 400;
    const winners = decide(
      'ab',
      [
        { name: 'control', weight: 1, openRate: 0.1 },
        { name: 'new-copy', weight: 1, openRate: 0.14 },
      ],
      4000,
      runs,
      4,
    );
    const power = (winners.get('new-copy') ?? 0) / runs;
    console.log(`A/B power: ${power.toFixed(4)}`);
    expect(power).toBeGreaterThanOrEqual(0.9);
    expect(winners.get('control') ?? 0).toBe(0);
  });

  it('a small lift (10 % → 11 %) with few users is rarely called: the test does not invent power', () => {
    const runs = 400;
    const winners = decide(
      'ab-small',
      [
        { name: 'control', weight: 1, openRate: 0.1 },
        { name: 'new-copy', weight: 1, openRate: 0.11 },
      ],
      1000,
      runs,
      5,
    );
    const power = (winners.get('new-copy') ?? 0) / runs;
    console.log(`A/B small-lift power: ${power.toFixed(4)}`);
    // Theory: z ≈ 0.52 at 500 per arm, power ≈ 0.07.
    expect(power).toBeLessThan(0.2);
  });
});
