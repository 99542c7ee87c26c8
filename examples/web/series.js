// The synthetic series the page streams, and that the browser test rebuilds in
// Node to compute the expected anomalies: a seeded generator with no DOM and
// no Node APIs, so the page and the test import the very same code, and it
// gives the same bits in every JS engine (see below).
//
// A slow sine wave (period 240 rows) plus noise of variance 1 around 50, with
// injected anomalies at seeded positions after the warm-up:
// - spikes: single rows 14-22 above the signal,
// - dips: single rows 14-22 below it,
// - a level shift: every row from one position on is 12 higher.

/** mulberry32: a 32-bit seeded PRNG, uniform in [0, 1). */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The season's length in rows. */
export const PERIOD = 240;

/** 2026-01-01T00:00:00Z in microseconds since the Unix epoch. */
export const START_US = 1767225600000000n;

/**
 * @param {{ seed?: number, n?: number, stepSeconds?: number, spikes?: number, dips?: number }} [options]
 * @returns {{ timestamps: BigInt64Array, values: Float64Array,
 *   injected: { spikes: number[], dips: number[], levelShift: number } }}
 */
export function syntheticSeries({ seed = 7, n = 2000, stepSeconds = 60, spikes = 4, dips = 3 } = {}) {
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`seed must be an integer in 0 .. 4294967295, got ${seed}`);
  }
  if (!Number.isSafeInteger(n) || n < 400 || n > 10_000_000) {
    throw new RangeError(`n must be an integer in 400 .. 10000000, got ${n}`);
  }
  const rand = mulberry32(seed);
  // Only + - * / from here on: they round the same in every JS engine, while
  // Math.sin, Math.cos and Math.log may differ in the last bit between V8
  // releases (Node's and Chromium's), and the test compares the page's values
  // with the ones it computes in Node bit for bit. So the noise is the
  // Irwin-Hall sum of 12 uniforms (mean 0, variance 1, within +-6), and the
  // season Bhaskara's rational approximation of the sine (error < 0.002).
  const noise = () => {
    let sum = -6;
    for (let k = 0; k < 12; k++) sum += rand();
    return sum;
  };
  const sine = (phase) => {
    // phase in [0, 1): sin(2 pi phase)
    const half = phase < 0.5 ? phase : phase - 0.5;
    const x = 2 * Math.PI * half;
    const s = (16 * x * (Math.PI - x)) / (5 * Math.PI * Math.PI - 4 * x * (Math.PI - x));
    return phase < 0.5 ? s : -s;
  };

  const timestamps = new BigInt64Array(n);
  const values = new Float64Array(n);
  const step = BigInt(stepSeconds) * 1_000_000n;
  for (let i = 0; i < n; i++) {
    timestamps[i] = START_US + BigInt(i) * step;
    values[i] = 50 + 3 * sine((i % PERIOD) / PERIOD) + noise();
  }

  // The level shift lands in the middle of the second half; spikes and dips
  // anywhere after the first 10 % (past every detector's warm-up) and at least
  // 40 rows from each other and from the shift.
  const levelShift = Math.floor(n * (0.55 + 0.2 * rand()));
  for (let i = levelShift; i < n; i++) values[i] += 12;
  const taken = [levelShift];
  const pick = () => {
    for (;;) {
      const i = Math.floor(n * 0.1 + rand() * (n * 0.9 - 1));
      if (taken.every((t) => Math.abs(t - i) >= 40)) {
        taken.push(i);
        return i;
      }
    }
  };
  const spikeAt = [];
  const dipAt = [];
  for (let k = 0; k < spikes; k++) {
    const i = pick();
    values[i] += 14 + 8 * rand();
    spikeAt.push(i);
  }
  for (let k = 0; k < dips; k++) {
    const i = pick();
    values[i] -= 14 + 8 * rand();
    dipAt.push(i);
  }
  const byIndex = (a, b) => a - b;
  return { timestamps, values, injected: { spikes: spikeAt.sort(byIndex), dips: dipAt.sort(byIndex), levelShift } };
}
