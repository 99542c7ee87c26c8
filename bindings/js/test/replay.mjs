// Replaying a shared parity vector (tests/vectors/*.json, format 1 or 2; see
// tests/vectors/README.md) through the wasmad JS package and comparing every
// output bit for bit. Shared by the Node replay (test/vectors.test.js) and the
// browser replay (examples/web/vectors.js, in headless Chromium), so both hosts
// check exactly the same things. Plain ES, no Node modules: the Detector class
// is passed in (each host loads the package its own way), and a mismatch
// throws a ReplayMismatch naming the vector, the run, the output and the index.

/** A replayed output that differs from the vector, or a malformed vector. */
export class ReplayMismatch extends Error {
  constructor(message) {
    super(message);
    this.name = 'ReplayMismatch';
  }
}

function fail(message) {
  throw new ReplayMismatch(message);
}

/** IEEE-754 bit patterns (16 hex digits) as a Float64Array, exactly. */
export function f64s(hexes) {
  const bits = new BigUint64Array(hexes.length);
  hexes.forEach((h, i) => {
    if (typeof h !== 'string' || !/^[0-9a-f]{16}$/.test(h)) fail(`not an f64 bit pattern (16 hex digits): ${JSON.stringify(h)}`);
    bits[i] = BigInt(`0x${h}`);
  });
  return new Float64Array(bits.buffer);
}

/** The bits of a Float64Array, as a BigUint64Array view. */
export function bitsOf(a) {
  return new BigUint64Array(a.buffer, a.byteOffset, a.length);
}

const hex = (b) => b.toString(16).padStart(16, '0');

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

/** Deep equality of JSON values (objects compared regardless of key order). */
function sameJson(a, b) {
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return Object.is(a, b);
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && sameJson(a[k], b[k]));
}

/** Throws unless the f64 bits of `got` are those of `want`. */
function sameBits(label, got, want) {
  const g = bitsOf(got);
  const w = bitsOf(want);
  if (g.length !== w.length) fail(`${label}: length ${g.length}, want ${w.length}`);
  for (let i = 0; i < w.length; i++) {
    if (g[i] !== w[i]) fail(`${label}[${i}] differs: want ${hex(w[i])}, got ${hex(g[i])}`);
  }
}

/**
 * Run `v` through a fresh detector: `batches` (row counts of consecutive
 * process calls), and after batch `restoreAfter` (0-based; null: never)
 * snapshot, close, and continue with Detector.restore of the snapshot.
 * With `arrayOfRows`, each batch is passed as an array of row arrays instead
 * of a Float64Array with a width.
 * @returns {{ out: object[], d: object }} the Results and the last detector (open)
 */
export function replay(Detector, v, batches, restoreAfter, { arrayOfRows = false } = {}) {
  if (v.format !== 1 && v.format !== 2) fail(`${v.name}: unknown vector format ${v.format}`);
  const width = v.width ?? 1;
  const values = f64s(v.values);
  if (values.length !== v.rows * width) fail(`${v.name}: ${values.length} values, want rows * width = ${v.rows * width}`);
  if (v.timestamps.length !== v.rows) fail(`${v.name}: ${v.timestamps.length} timestamps for ${v.rows} rows`);
  const timestamps = BigInt64Array.from(v.timestamps, (t) => BigInt(t));
  const keys = v.keys.length ? Uint32Array.from(v.keys) : null;
  let d = new Detector(v.config);
  const effective = JSON.parse(v.effective_config);
  if (!sameJson(d.config, effective)) {
    fail(`${v.name}: config after create is ${JSON.stringify(d.config)}, want ${v.effective_config}`);
  }
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
    if (r.length !== b) fail(`${v.name}: batch ${i} of ${b} rows returned ${r.length}`);
    out.push(r);
    start += b;
    if (restoreAfter === i) {
      const snap = d.snapshot();
      d.close();
      d = Detector.restore(snap);
    }
  });
  if (start !== v.rows) fail(`${v.name}: the batches sum to ${start}, not rows = ${v.rows}`);
  return { out, d };
}

/**
 * Throws a ReplayMismatch unless the replayed outputs are the vector's bit for
 * bit: forecast, lower, upper, score, flags, probability (or none), every
 * extra (names in order, perRow, bits; the row view agrees) and the key count.
 * @returns {number} the number of f64 outputs compared
 */
export function compareReplay(v, { out, d }, run) {
  const name = `${v.name} (${run})`;
  let compared = 0;
  for (const col of ['forecast', 'lower', 'upper', 'score']) {
    const want = f64s(v[col]);
    sameBits(`${name}: ${col}`, concat(out.map((r) => r[col]), Float64Array), want);
    compared += want.length;
  }
  const flags = concat(out.map((r) => r.flags), Uint8Array);
  if (flags.length !== v.flags.length) fail(`${name}: flags: length ${flags.length}, want ${v.flags.length}`);
  for (let i = 0; i < v.flags.length; i++) {
    if (flags[i] !== v.flags[i]) fail(`${name}: flags[${i}] differs: want ${v.flags[i]}, got ${flags[i]}`);
  }
  if (v.probability.length) {
    // A batch of 0 rows carries no probability column at all.
    const want = f64s(v.probability);
    sameBits(`${name}: probability`, concat(out.map((r) => r.probability ?? new Float64Array(0)), Float64Array), want);
    compared += want.length;
  } else if (!out.every((r) => r.probability === null)) {
    fail(`${name}: probability returned, want none`);
  }
  // Extras: per name, the batches' values concatenated (a 0-row batch may
  // carry none); names, per-row widths and bits as in the vector.
  const wantExtras = v.extras ?? [];
  const names = [];
  for (const r of out) for (const n of r.extras.keys()) if (!names.includes(n)) names.push(n);
  const wantNames = wantExtras.map((e) => e.name);
  if (!sameJson(names, wantNames)) fail(`${name}: extra names ${JSON.stringify(names)}, want ${JSON.stringify(wantNames)}`);
  for (const e of wantExtras) {
    const parts = out.map((r) => r.extras.get(e.name)).filter((x) => x !== undefined);
    for (const p of parts) {
      if (p.perRow !== e.per_row) fail(`${name}: extra ${e.name} perRow ${p.perRow}, want ${e.per_row}`);
    }
    const want = f64s(e.values);
    sameBits(`${name}: extra ${e.name}`, concat(parts.map((p) => p.values), Float64Array), want);
    compared += want.length;
    // The row view agrees with the flat column.
    const last = out.findLast((r) => r.length > 0 && r.extras.has(e.name));
    if (last) {
      const x = last.extras.get(e.name);
      if (x.length !== last.length) fail(`${name}: extra ${e.name} has ${x.length} rows, the batch ${last.length}`);
      const i = last.length - 1;
      sameBits(`${name}: extra ${e.name} of row(${i}) of the last batch`, last.row(i).extras[e.name], x.row(i));
    }
  }
  if (d.keyCount !== v.key_count) fail(`${name}: key count ${d.keyCount}, want ${v.key_count}`);
  return compared;
}

/**
 * Every replay the hosts do of one vector: its batch splits and restore point
 * twice (each on fresh detectors, so the two runs also check determinism),
 * then once in one call as an array of rows. Closes its detectors; throws a
 * ReplayMismatch at the first difference.
 * @returns {{ name: string, rows: number, width: number, runs: string[], compared: number }}
 */
export function replayVector(Detector, v) {
  const runs = [
    ['run 1', v.batches, v.restore_after_batch, {}],
    ['run 2', v.batches, v.restore_after_batch, {}],
    ['one call', [v.rows], null, { arrayOfRows: true }],
  ];
  let compared = 0;
  for (const [run, batches, restoreAfter, options] of runs) {
    const r = replay(Detector, v, batches, restoreAfter, options);
    try {
      compared += compareReplay(v, r, run);
    } finally {
      r.d.close();
    }
  }
  return { name: v.name, rows: v.rows, width: v.width ?? 1, runs: runs.map((r) => r[0]), compared };
}
