// Every shared vector (tests/vectors, written by the Rust host) replays bit for
// bit through the jco-transpiled component: with its batch splits and its
// snapshot/restore point, twice; and once more in a single call, passing the
// rows as an array of rows. Multivariate vectors (width > 1) and the extra
// outputs (e.g. rcf's and robust's attribution) are compared too.
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

/** The rows start .. end of row-major `values` as an array of row arrays. */
function asRows(values, width, start, end) {
  const out = [];
  for (let i = start; i < end; i++) out.push(Array.from(values.subarray(i * width, (i + 1) * width)));
  return out;
}

function replay(v, batches, restoreAfter, { arrayOfRows = false } = {}) {
  const values = f64s(v.values);
  const width = v.width;
  assert.ok(v.format === 1 || v.format === 2, `${v.name}: unknown vector format ${v.format}`);
  assert.equal(values.length, v.rows * width, `${v.name}: rows * width values`);
  const timestamps = BigInt64Array.from(v.timestamps, (t) => BigInt(t));
  const keys = v.keys.length ? Uint32Array.from(v.keys) : null;
  let d = new Detector(v.config);
  assert.deepEqual(d.config, JSON.parse(v.effective_config));
  const out = [];
  let start = 0;
  batches.forEach((b, i) => {
    const batch = arrayOfRows
      ? asRows(values, width, start, start + b)
      : values.subarray(start * width, (start + b) * width);
    const r = d.process(batch, {
      timestamps: timestamps.subarray(start, start + b),
      keys: keys ? keys.subarray(start, start + b) : undefined,
      // An empty array of rows carries no width: pass it for 0-row batches.
      width: arrayOfRows && b > 0 ? undefined : width,
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
  // Extras: per name, the batches' values concatenated (a 0-row batch may
  // carry none); names, per-row widths and bits as in the vector.
  const wantExtras = v.extras ?? [];
  const names = [];
  for (const r of out) for (const name of r.extras.keys()) if (!names.includes(name)) names.push(name);
  assert.deepEqual(names, wantExtras.map((e) => e.name), `${name}: extra names`);
  for (const e of wantExtras) {
    const parts = out.map((r) => r.extras.get(e.name)).filter((x) => x !== undefined);
    for (const p of parts) assert.equal(p.perRow, e.per_row, `${name}: extra ${e.name} perRow`);
    const got = bitsOf(concat(parts.map((p) => p.values), Float64Array));
    const want = bitsOf(f64s(e.values));
    assert.equal(got.length, want.length, `${name}: extra ${e.name} length`);
    for (let i = 0; i < want.length; i++) {
      if (got[i] !== want[i]) {
        assert.fail(
          `${name}: extra ${e.name}[${i}] (row ${Math.floor(i / e.per_row)}) differs: ` +
            `want ${want[i].toString(16).padStart(16, '0')}, got ${got[i].toString(16).padStart(16, '0')}`,
        );
      }
    }
    // The row view agrees with the flat column.
    const last = out.findLast((r) => r.length > 0 && r.extras.has(e.name));
    if (last) {
      const x = last.extras.get(e.name);
      assert.equal(x.length, last.length, `${name}: extra ${e.name} rows`);
      assert.deepEqual(last.row(last.length - 1).extras[e.name], x.row(last.length - 1));
    }
  }
  assert.equal(d.keyCount, v.key_count, `${name}: key count`);
}

test('there are vectors, multivariate ones with extras among them', () => {
  assert.ok(files.length >= 10, `found ${files.length}`);
  const vs = files.map((f) => JSON.parse(readFileSync(new URL(f, DIR), 'utf8')));
  assert.ok(vs.some((v) => v.width > 1 && v.extras.some((e) => e.name === 'attribution')));
});

for (const file of files) {
  const v = JSON.parse(readFileSync(new URL(file, DIR), 'utf8'));
  test(`vector ${v.name} replays bit-identically, twice`, () => {
    for (const run of ['run 1', 'run 2']) {
      assertBitIdentical(v, replay(v, v.batches, v.restore_after_batch), run);
    }
  });
  test(`vector ${v.name} in one call, as an array of rows`, () => {
    assertBitIdentical(v, replay(v, [v.rows], null, { arrayOfRows: true }), 'one call');
  });
}
