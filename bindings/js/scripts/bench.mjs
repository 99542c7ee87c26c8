// Rows per second of wasmad in Node, per algorithm, one key and 1000 keys.
//
//   node scripts/bench.mjs [rows]
//
// Each figure is the best of 3 calls of `process` over the rows (Float64Array
// values, BigInt64Array timestamps and, for keyed runs, Uint32Array key ids),
// on a detector that has already seen one batch: it includes jco's copies
// across the boundary both ways.
import { Detector } from '../src/index.js';

const n = Number(process.argv[2] ?? 1_000_000);
const configs = [
  { algorithm: 'zscore' },
  { algorithm: 'zscore', window: 100 },
  { algorithm: 'ewma' },
  { algorithm: 'mad', window: 100 },
];
const values = new Float64Array(n);
const timestamps = new BigInt64Array(n);
let seed = 42;
for (let i = 0; i < n; i++) {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  values[i] = 10 + seed / 2147483648;
  timestamps[i] = BigInt(i) * 1_000_000n;
}
for (const keyCount of [1, 1000]) {
  const keys = keyCount > 1 ? Uint32Array.from({ length: n }, (_, i) => i % keyCount) : undefined;
  for (const config of configs) {
    const d = new Detector(config);
    d.process(values, { timestamps, keys });
    let best = Infinity;
    for (let r = 0; r < 3; r++) {
      const t = performance.now();
      d.process(values, { timestamps, keys });
      best = Math.min(best, (performance.now() - t) / 1000);
    }
    const label = Object.entries(config).map(([k, v]) => `${k}=${v}`).join(',');
    console.log(`node ${label.padEnd(28)} keys=${String(keyCount).padEnd(5)} ${(n / best / 1e6).toFixed(2).padStart(7)}M rows/s`);
    d.close();
  }
}
