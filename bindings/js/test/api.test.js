// The Node API: errors carry the guest's message, snapshots restore exactly,
// inputs convert, detectors are disposable, and typed process is fast.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  ABI_VERSION,
  Detector,
  Extra,
  GuestError,
  InvalidConfigError,
  InvalidInputError,
  InvalidSnapshotError,
  WasmadError,
  describe,
} from '../src/index.js';

/** Seeded (mulberry32) so every run sees the same series. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function series(n, seed, keys = 0) {
  const r = rng(seed);
  const values = new Float64Array(n);
  const timestamps = new BigInt64Array(n);
  const ids = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    values[i] = 10 + (r() + r() + r() - 1.5) * 2 + (r() < 0.02 ? 8 : 0);
    if (r() < 0.01) values[i] = NaN;
    timestamps[i] = 1_700_000_000_000_000n + BigInt(i) * 1_000_000n;
    ids[i] = keys ? Math.min(i % (keys + 3), keys - 1) : 0;
  }
  return { values, timestamps, keys: keys ? ids : undefined };
}

function sameBits(a, b) {
  for (const col of ['forecast', 'lower', 'upper', 'score']) {
    const x = new BigUint64Array(a[col].buffer, a[col].byteOffset, a[col].length);
    const y = new BigUint64Array(b[col].buffer, b[col].byteOffset, b[col].length);
    assert.deepEqual(x, y, col);
  }
  assert.deepEqual(a.flags, b.flags, 'flags');
}

const badConfigs = [
  ['unknown algorithm', { algorithm: 'nope' }, ["unknown algorithm 'nope'", 'zscore, ewma, mad']],
  ['negative threshold', { algorithm: 'zscore', threshold: -1 }, ['threshold']],
  ['unknown key', { algorithm: 'zscore', bogus: 1 }, ['bogus']],
  ['alpha out of range', { algorithm: 'ewma', alpha: 2 }, ['alpha']],
  ['malformed JSON', '{"algorithm": ', ['json']],
  ['not an object', '[1, 2]', ['object']],
];

for (const [name, config, needles] of badConfigs) {
  test(`bad config (${name}) throws InvalidConfigError with the guest's message`, () => {
    assert.throws(
      () => new Detector(config),
      (e) => {
        assert.ok(e instanceof InvalidConfigError && e instanceof GuestError && e instanceof WasmadError);
        assert.equal(e.kind, 'invalid-config');
        assert.equal(e.name, 'InvalidConfigError');
        for (const n of needles) assert.ok(e.message.toLowerCase().includes(n.toLowerCase()), e.message);
        return true;
      },
    );
  });
}

test('bad batches throw InvalidInputError, and change nothing', () => {
  const d = new Detector({ algorithm: 'zscore' });
  assert.throws(() => d.process([1], { keys: [5] }), (e) => e instanceof InvalidInputError && /not dense/.test(e.message));
  assert.throws(() => d.process(new Float64Array(8), { width: 2 }), (e) => e instanceof InvalidInputError && /univariate/.test(e.message));
  assert.throws(() => d.process([1, 2], { keys: [0] }), (e) => e instanceof InvalidInputError && /one per row/.test(e.message));
  assert.throws(() => d.process([1, 2], { timestamps: [1n, 2n, 3n] }), /one per row/);
  assert.throws(() => d.process([1], { keys: [-1] }), (e) => e instanceof InvalidInputError && /0 \.\. 2\^32-1/.test(e.message));
  assert.throws(() => d.process([1], { timestamps: [1.5] }), (e) => e instanceof InvalidInputError && /microseconds/.test(e.message));
  assert.throws(() => d.process([1], { width: 0 }), InvalidInputError);
  assert.equal(d.keyCount, 0);
  const r = d.process([1, 2]);
  assert.deepEqual([r.status(0), r.status(1)], ['warmup', 'warmup']);
});

test('bad snapshots throw InvalidSnapshotError', () => {
  const d = new Detector({ algorithm: 'ewma' });
  d.process(Float64Array.from({ length: 50 }, (_, i) => i));
  const snap = d.snapshot();
  assert.ok(snap instanceof Uint8Array);
  assert.deepEqual(Array.from(snap.subarray(0, 4)), [...Buffer.from('WMAD')]);
  const corrupt = [new Uint8Array(0), new TextEncoder().encode('garbage'), snap.subarray(0, snap.length - 3),
    Uint8Array.from([...snap, 0])];
  for (const bad of corrupt) {
    assert.throws(() => Detector.restore(bad), InvalidSnapshotError);
  }
  assert.throws(() => Detector.restore('nope'), TypeError);
});

for (const config of [
  { algorithm: 'zscore' },
  { algorithm: 'zscore', window: 64 },
  { algorithm: 'ewma', halfLife: 30 },
  { algorithm: 'mad', window: 41 },
]) {
  test(`restore continues exactly: ${JSON.stringify(config)}`, () => {
    const n = 3000;
    const s = series(n, 7, 5);
    const whole = new Detector(config).process(s.values, s);
    for (const split of [1, 1000, n - 1]) {
      const d = new Detector(config);
      const head = { timestamps: s.timestamps.subarray(0, split), keys: s.keys.subarray(0, split) };
      const tail = { timestamps: s.timestamps.subarray(split), keys: s.keys.subarray(split) };
      const first = d.process(s.values.subarray(0, split), head);
      const e = Detector.restore(d.snapshot());
      assert.deepEqual(e.config, d.config);
      assert.equal(e.keyCount, d.keyCount);
      const second = e.process(s.values.subarray(split), tail);
      const joined = {};
      for (const col of ['forecast', 'lower', 'upper', 'score']) {
        joined[col] = new Float64Array(n);
        joined[col].set(first[col]);
        joined[col].set(second[col], split);
      }
      joined.flags = new Uint8Array(n);
      joined.flags.set(first.flags);
      joined.flags.set(second.flags, split);
      sameBits(whole, joined);
      sameBits(second, d.process(s.values.subarray(split), tail));
    }
  });
}

test('results decode the flag byte', () => {
  const d = new Detector({ algorithm: 'zscore', minTrainingSize: 20 });
  const values = [];
  for (let i = 0; i < 10; i++) values.push(10, 10.5, 9.5, 10.2);
  values.push(30, -10, null, Infinity, 10);
  const r = d.process(values);
  assert.equal(r.length, 45);
  const tail = [40, 41, 42, 43, 44];
  assert.deepEqual(tail.map((i) => r.status(i)), ['ok', 'ok', 'skipped', 'skipped', 'ok']);
  assert.deepEqual(tail.map((i) => r.direction(i)), ['up', 'down', null, null, null]);
  assert.deepEqual(r.anomalies(), [40, 41]);
  assert.equal(r.status(0), 'warmup');
  assert.ok(Number.isNaN(r.score[0]) && Number.isNaN(r.score[42]));
  assert.ok(r.score[40] > 3 && r.score[41] < -3);
  assert.ok(r.lower[40] < r.forecast[40] && r.forecast[40] < r.upper[40]);
  // Severity is graded for anomalies only (when the detector grades at all).
  assert.equal(r.severity(0), null);
  assert.equal(r.severity(44), null);
  assert.ok([null, 'low', 'medium', 'high'].includes(r.severity(40)));
  assert.equal(r.probability, null);
  const rows = [...r];
  assert.equal(rows.length, 45);
  assert.deepEqual(rows[40].direction, 'up');
  assert.equal(rows[40].isAnomaly, true);
});

test('plain arrays, numbers, bigints and Dates convert like typed arrays', () => {
  const values = [];
  for (let i = 0; i < 40; i++) values.push([1, 2, null, 4.5][i % 4]);
  const start = Date.UTC(2024, 0, 1);
  const dates = values.map((_, i) => new Date(start + i * 1000));
  const a = new Detector().process(values, { timestamps: dates, keys: values.map(() => 0) });
  const typed = Float64Array.from(values, (v) => (v === null ? NaN : v));
  const us = BigInt64Array.from(dates, (t) => BigInt(t.getTime()) * 1000n);
  const b = new Detector().process(typed, { timestamps: us, keys: new Uint32Array(40) });
  sameBits(a, b);
  assert.equal(a.status(2), 'skipped');
  assert.equal(new Detector().process([]).length, 0);
});

test('describe, ABI version and config', () => {
  const info = describe();
  assert.equal(info.abi, ABI_VERSION);
  assert.deepEqual(info.algorithms.map((a) => a.name), [
    'zscore', 'ewma', 'mad', 'holtwinters', 'rcf', 'spike_dip', 'change_point', 'robust', 'arima', 'ensemble', 'hst', 'iforest',
  ]);
  const d = new Detector('{"algorithm":"mad"}');
  assert.equal(d.config.window, 100);
  assert.equal(d.config.threshold, 3.5);
  d.process([1, 2], { keys: [0, 1] });
  assert.equal(d.keyCount, 2);
});

test('detectors are disposable and refuse calls once closed', () => {
  assert.equal(typeof Symbol.dispose, 'symbol', 'Symbol.dispose (Node >= 20 provides it)');
  const d = new Detector();
  d.process([1]);
  d[Symbol.dispose]();
  assert.throws(() => d.process([1]), (e) => e instanceof WasmadError && /closed/.test(e.message));
  d.close(); // idempotent
  const e = new Detector();
  e.close();
  assert.throws(() => e.snapshot(), /closed/);
});

test('detectors are isolated from each other', () => {
  const s = series(500, 3);
  const a = new Detector({ algorithm: 'ewma' });
  const b = new Detector({ algorithm: 'ewma' });
  // Interleave calls on a and b; each must equal a detector running alone.
  const alone = new Detector({ algorithm: 'ewma' }).process(s.values, s);
  a.process(s.values.subarray(0, 250), { timestamps: s.timestamps.subarray(0, 250) });
  b.process(Float64Array.from({ length: 300 }, () => 1e6));
  const rest = a.process(s.values.subarray(250), { timestamps: s.timestamps.subarray(250) });
  for (const col of ['forecast', 'score']) {
    assert.deepEqual(rest[col], alone[col].subarray(250));
  }
});

test('typed process runs at >= 1M rows/s', () => {
  const n = 1_000_000;
  const s = series(n, 5);
  const d = new Detector({ algorithm: 'zscore' });
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    d.process(s.values, { timestamps: s.timestamps });
    best = Math.min(best, (performance.now() - t) / 1000);
  }
  const rate = n / best;
  console.log(`wasmad node (jco, typed process): ${(rate / 1e6).toFixed(1)}M rows/s (zscore, ${n} rows a call)`);
  assert.ok(rate >= 1_000_000, `${rate} rows/s`);
});

test('multivariate rows: flat with width, or an array of rows; extras by name', () => {
  const rows = Array.from({ length: 60 }, (_, i) => [10 + (i % 7), -3 + (i % 5) * 0.1, i === 55 ? 99 : 1]);
  const config = { algorithm: 'robust', window: 20, minTrainingSize: 10 };
  const a = new Detector(config).process(rows);
  const b = new Detector(config).process(Float64Array.from(rows.flat()), { width: 3 });
  sameBits(a, b);
  const x = a.extras.get('attribution');
  assert.ok(x instanceof Extra);
  assert.equal(x.perRow, 6);
  assert.equal(x.values.length, 60 * 6);
  assert.equal(x.length, 60);
  assert.deepEqual(Array.from(x.row(55)), Array.from(b.extras.get('attribution').values.subarray(330, 336)));
  assert.deepEqual(a.row(55).extras.attribution, x.row(55));
  assert.ok(a.isAnomaly(55));
  assert.equal(new Detector().process([1, 2]).extras.size, 0);
  const bad = (f, re) => assert.throws(f, (e) => e instanceof InvalidInputError && re.test(e.message));
  bad(() => new Detector(config).process(new Float64Array(5), { width: 3 }), /not a multiple of width/);
  bad(() => new Detector(config).process([[1, 2], [3]]), /values\[1\] has 1 elements/);
  bad(() => new Detector(config).process([1, 2], { width: 0 }), /width must be an integer/);
  bad(() => new Detector().process([[1, 2]]), /univariate/);
});
