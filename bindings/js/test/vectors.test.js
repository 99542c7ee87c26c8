// Every shared vector (tests/vectors, written by the Rust host) replays bit for
// bit through the jco-transpiled component: with its batch splits and its
// snapshot/restore point, twice; and once more in a single call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';

import { Detector } from '../src/index.js';

const DIR = new URL('../../../tests/vectors/', import.meta.url);
const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();

/** IEEE-754 bit patterns (16 hex digits) as a Float64Array, exactly. */
function f64s(hexes) {
  const bits = new BigUint64Array(hexes.length);
  hexes.forEach((h, i) => {
    bits[i] = BigInt(`0x${h}`);
  });
  return new Float64Array(bits.buffer);
}

function bitsOf(a) {
  return new BigUint64Array(a.buffer, a.byteOffset, a.length);
}

function concat(parts, Type) {
  const out = new Type(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function replay(v, batches, restoreAfter) {
  const values = f64s(v.values);
  const timestamps = BigInt64Array.from(v.timestamps, (t) => BigInt(t));
  const keys = v.keys.length ? Uint32Array.from(v.keys) : null;
  let d = new Detector(v.config);
  assert.deepEqual(d.config, JSON.parse(v.effective_config));
  const out = [];
  let start = 0;
  batches.forEach((b, i) => {
    const r = d.process(values.subarray(start, start + b), {
      timestamps: timestamps.subarray(start, start + b),
      keys: keys ? keys.subarray(start, start + b) : undefined,
    });
    assert.equal(r.length, b);
    out.push(r);
    start += b;
    if (restoreAfter === i) {
      const snap = d.snapshot();
      d.close();
      d = Detector.restore(snap);
    }
  });
  assert.equal(start, v.rows);
  return { out, d };
}

function assertBitIdentical(v, { out, d }, run) {
  const name = `${v.name} (${run})`;
  for (const col of ['forecast', 'lower', 'upper', 'score']) {
    const got = bitsOf(concat(out.map((r) => r[col]), Float64Array));
    const want = bitsOf(f64s(v[col]));
    assert.equal(got.length, want.length, `${name}: ${col} length`);
    for (let i = 0; i < want.length; i++) {
      if (got[i] !== want[i]) {
        assert.fail(
          `${name}: ${col}[${i}] differs: want ${want[i].toString(16).padStart(16, '0')}, ` +
            `got ${got[i].toString(16).padStart(16, '0')}`,
        );
      }
    }
  }
  assert.deepEqual(Array.from(concat(out.map((r) => r.flags), Uint8Array)), v.flags, `${name}: flags`);
  if (v.probability.length) {
    // A batch of 0 rows carries no probability column at all.
    const got = bitsOf(concat(out.map((r) => r.probability ?? new Float64Array(0)), Float64Array));
    assert.deepEqual(Array.from(got), Array.from(bitsOf(f64s(v.probability))), `${name}: probability`);
  } else {
    assert.ok(out.every((r) => r.probability === null), `${name}: no probability`);
  }
  assert.equal(d.keyCount, v.key_count, `${name}: key count`);
}

test('there are vectors', () => {
  assert.ok(files.length >= 10, `found ${files.length}`);
});

for (const file of files) {
  const v = JSON.parse(readFileSync(new URL(file, DIR), 'utf8'));
  test(`vector ${v.name} replays bit-identically, twice`, () => {
    for (const run of ['run 1', 'run 2']) {
      assertBitIdentical(v, replay(v, v.batches, v.restore_after_batch), run);
    }
  });
  test(`vector ${v.name} in one call`, () => {
    assertBitIdentical(v, replay(v, [v.rows], null), 'one call');
  });
}
