/**
 * `random`: uniformly random choices, one seeded PRNG per execution. Within a preemption
 * bound when one is given (the engine keeps the last thread once the bound is spent).
 */
import type { SampleStrategy } from './strategy.js';

export const random: SampleStrategy = {
  kind: 'sample',
  name: 'random',
  measuresLength: false,
  chooser: (rand) => (names) => names[Math.floor(rand() * names.length) % names.length] as string,
};
