// wasmad for Node: the detector component (wit/detector.wit), transpiled by
// jco into core WebAssembly and JS glue (npm run build writes gen/), behind an
// API of typed arrays. Each Detector gets an instance of its own, as each gets
// a store of its own in the Rust host: detectors share no memory, and a trap
// in one leaves the others untouched.

import { readFileSync } from 'node:fs';

import { instantiate } from '../gen/detector.js';

/** The ABI version this package speaks (`abi-version` of wit/detector.wit). */
export const ABI_VERSION = 2;

const GEN = new URL('../gen/', import.meta.url);
const disposeSymbol = Symbol.dispose ?? Symbol.for('nodejs.dispose');

/** Base class of every error thrown by wasmad. */
export class WasmadError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The detector returned one of the typed errors of wit/detector.wit; the
 * message is the guest's own. */
export class GuestError extends WasmadError {}

/** `invalid-config`: malformed JSON, unknown algorithm or key, out-of-range value. */
export class InvalidConfigError extends GuestError {}
InvalidConfigError.prototype.kind = 'invalid-config';

/** `invalid-input`: column lengths disagree, bad width, a key id that is not dense. */
export class InvalidInputError extends GuestError {}
InvalidInputError.prototype.kind = 'invalid-input';

/** `invalid-snapshot`: truncated, corrupt, or an unknown envelope version. */
export class InvalidSnapshotError extends GuestError {}
InvalidSnapshotError.prototype.kind = 'invalid-snapshot';

/** A call trapped; the detector is unusable afterwards. */
export class CallError extends WasmadError {
  constructor(fn, message, options) {
    super(`call: wasmad component failed in ${fn}: ${message}`, options);
    this.function = fn;
    this.kind = 'trap';
  }
}

const GUEST_ERRORS = {
  'invalid-config': InvalidConfigError,
  'invalid-input': InvalidInputError,
  'invalid-snapshot': InvalidSnapshotError,
};

let compiled = null;

function coreModule(name) {
  if (compiled === null) compiled = new Map();
  let m = compiled.get(name);
  if (m === undefined) {
    m = new WebAssembly.Module(readFileSync(new URL(name, GEN)));
    compiled.set(name, m);
  }
  return m;
}

/** A fresh instance of the component: its own linear memory. */
function newInstance() {
  const root = instantiate(coreModule, {});
  const api = root.detectors;
  const found = api.abiVersion();
  if (found !== ABI_VERSION) {
    throw new WasmadError(
      `abi: the component implements detector ABI version ${found}; this package requires ` +
        `version ${ABI_VERSION}. Rebuild gen/ from a component of the same release (npm run build)`,
    );
  }
  return api;
}

/** Run `f`, turning the guest's typed errors and traps into wasmad errors. */
function guarded(fn, f, onTrap) {
  try {
    return f();
  } catch (e) {
    const payload = e?.payload;
    if (payload && typeof payload === 'object' && payload.tag in GUEST_ERRORS) {
      throw new GUEST_ERRORS[payload.tag](String(payload.val));
    }
    if (e instanceof WebAssembly.RuntimeError || e instanceof RangeError) {
      onTrap?.();
      throw new CallError(fn, `trapped: ${e.message}`, { cause: e });
    }
    throw e;
  }
}

/** The component's describe(): algorithms, config keys, types, defaults, ranges. */
export function describe() {
  return JSON.parse(newInstance().describe());
}

function configJson(config) {
  if (config === undefined || config === null) return '{}';
  if (typeof config === 'string') return config;
  if (typeof config === 'object') return JSON.stringify(config);
  throw new TypeError(`config must be an object or a JSON string, got ${typeof config}`);
}

function toFloat64(values) {
  if (values instanceof Float64Array) return values;
  if (values == null || typeof values.length !== 'number') {
    throw new InvalidInputError('values must be a Float64Array or an array of numbers');
  }
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    out[i] = v === null || v === undefined ? NaN : Number(v);
  }
  return out;
}

function toTimestamps(timestamps, n) {
  if (timestamps === undefined || timestamps === null) return new BigInt64Array(n);
  let out = timestamps;
  if (!(timestamps instanceof BigInt64Array)) {
    if (typeof timestamps.length !== 'number') {
      throw new InvalidInputError('timestamps must be a BigInt64Array or an array');
    }
    out = new BigInt64Array(timestamps.length);
    for (let i = 0; i < timestamps.length; i++) {
      const t = timestamps[i];
      if (t instanceof Date) out[i] = BigInt(t.getTime()) * 1000n;
      else if (typeof t === 'bigint') out[i] = t;
      else if (Number.isSafeInteger(t)) out[i] = BigInt(t);
      else {
        throw new InvalidInputError(
          `timestamps[${i}] is ${t}; expected an integer (microseconds since the Unix epoch), a bigint or a Date`,
        );
      }
    }
  }
  if (out.length !== n) {
    throw new InvalidInputError(`timestamps has ${out.length} elements; expected one per row (${n})`);
  }
  return out;
}

const NO_KEYS = new Uint32Array(0);
const RESTORING = Symbol('wasmad.restore');

function toKeys(keys, n) {
  if (keys === undefined || keys === null) return NO_KEYS;
  let out = keys;
  if (!(keys instanceof Uint32Array)) {
    if (typeof keys.length !== 'number') {
      throw new InvalidInputError('keys must be a Uint32Array or an array of key ids');
    }
    out = new Uint32Array(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      if (!Number.isInteger(k) || k < 0 || k > 0xffffffff) {
        throw new InvalidInputError(`keys[${i}] is ${k}; key ids are integers in 0 .. 2^32-1`);
      }
      out[i] = k;
    }
  }
  if (out.length !== n) {
    throw new InvalidInputError(`keys has ${out.length} elements; expected one per row (${n})`);
  }
  return out;
}

/** Flatten `values` of a batch into n * width row-major floats: a
 * Float64Array or array of numbers (n * width of them), or an array of rows
 * (arrays of `width` numbers each; the width is taken from them). */
function toRows(values, width) {
  if (width !== undefined && (!Number.isInteger(width) || width < 1 || width > 0xffffffff)) {
    throw new InvalidInputError(`width must be an integer >= 1, got ${width}`);
  }
  if (Array.isArray(values) && values.length > 0 && values[0] !== null && typeof values[0] === 'object') {
    const w = width ?? values[0].length;
    if (!Number.isInteger(w) || w < 1) {
      throw new InvalidInputError(`values[0] has ${values[0].length} elements; a row needs at least one`);
    }
    const out = new Float64Array(values.length * w);
    values.forEach((row, i) => {
      if (row === null || typeof row !== 'object' || row.length !== w) {
        throw new InvalidInputError(
          `values[${i}] has ${row?.length ?? 'no'} elements; every row needs width (${w})`,
        );
      }
      out.set(toFloat64(row), i * w);
    });
    return { v: out, width: w };
  }
  const v = toFloat64(values);
  const w = width ?? 1;
  if (v.length % w !== 0) {
    throw new InvalidInputError(
      `values has ${v.length} elements, not a multiple of width (${w}): pass n * width values, row-major`,
    );
  }
  return { v, width: w };
}

/** An extra output column (`extra` of wit/detector.wit): `perRow` values for
 * each row, row-major in `values`. Names in use: `attribution` (2 * width per
 * row: each column's (high, low) share of the score; rcf, robust), `rmse`,
 * `aic`, `forecast`. */
export class Extra {
  constructor(name, perRow, values) {
    /** @type {string} */ this.name = name;
    /** @type {number} */ this.perRow = perRow;
    /** @type {Float64Array} */ this.values = values;
  }

  /** Number of rows. */
  get length() {
    return this.perRow === 0 ? 0 : this.values.length / this.perRow;
  }

  /** Row `i`'s `perRow` values (a view, not a copy). */
  row(i) {
    return this.values.subarray(i * this.perRow, (i + 1) * this.perRow);
  }
}

const STATUS = ['ok', 'warmup', 'skipped', 'skipped'];
const SEVERITY = [null, 'low', 'medium', 'high'];

/** Scores for one batch: typed arrays, one element per input row. */
export class Result {
  constructor(scores) {
    /** @type {Float64Array} */ this.forecast = scores.forecast;
    /** @type {Float64Array} */ this.lower = scores.lower;
    /** @type {Float64Array} */ this.upper = scores.upper;
    /** @type {Float64Array} */ this.score = scores.score;
    /** @type {Uint8Array} */ this.flags = scores.rowFlags;
    /** @type {Float64Array | null} null when the detector computes no probability */
    this.probability = scores.probability.length > 0 ? scores.probability : null;
    /** @type {Map<string, Extra>} further outputs some algorithms add, by name */
    this.extras = new Map();
    for (const e of scores.extras ?? []) {
      this.extras.set(e.name, new Extra(e.name, e.perRow, e.values));
    }
  }

  get length() {
    return this.flags.length;
  }

  isAnomaly(i) {
    return (this.flags[i] & 1) === 1;
  }

  direction(i) {
    const f = this.flags[i];
    if ((f & 1) === 0) return null;
    return (f & 2) === 2 ? 'up' : 'down';
  }

  status(i) {
    return STATUS[(this.flags[i] >> 2) & 3];
  }

  severity(i) {
    return SEVERITY[(this.flags[i] >> 4) & 3];
  }

  /** Row `i` as a plain object. */
  row(i) {
    return {
      forecast: this.forecast[i],
      lower: this.lower[i],
      upper: this.upper[i],
      score: this.score[i],
      isAnomaly: this.isAnomaly(i),
      direction: this.direction(i),
      status: this.status(i),
      severity: this.severity(i),
      probability: this.probability === null ? null : this.probability[i],
      extras: Object.fromEntries([...this.extras].map(([name, e]) => [name, e.row(i)])),
    };
  }

  *[Symbol.iterator]() {
    for (let i = 0; i < this.length; i++) yield this.row(i);
  }

  /** Indices of the anomalous rows. */
  anomalies() {
    const out = [];
    for (let i = 0; i < this.flags.length; i++) if (this.flags[i] & 1) out.push(i);
    return out;
  }
}

/** One streaming detector: its config and every key's model, in a WebAssembly
 * instance of its own. */
export class Detector {
  #api = null;
  #handle = null;
  #poisoned = null;

  /**
   * @param {object | string} [config] e.g. `{ algorithm: 'zscore', threshold: 3.5 }`
   */
  constructor(config) {
    if (config !== null && typeof config === 'object' && RESTORING in config) {
      const snapshot = config[RESTORING];
      this.#api = newInstance();
      this.#handle = guarded('detector.restore', () => this.#api.Detector.restore(snapshot));
      return;
    }
    const json = configJson(config);
    this.#api = newInstance();
    this.#handle = guarded('detector.create', () => this.#api.Detector.create(json));
  }

  /** A detector rebuilt from `snapshot()` bytes; it continues exactly where the
   * snapshotted one was. */
  static restore(snapshot) {
    if (!(snapshot instanceof Uint8Array)) {
      throw new TypeError('snapshot must be a Uint8Array (from detector.snapshot())');
    }
    return new Detector({ [RESTORING]: snapshot });
  }

  #live(fn) {
    if (this.#poisoned !== null) {
      throw new CallError(fn, `the detector is unusable after an earlier failure (${this.#poisoned})`);
    }
    if (this.#handle === null) throw new WasmadError('the detector is closed');
    return this.#handle;
  }

  #call(fn, f) {
    const handle = this.#live(fn);
    return guarded(fn, () => f(handle), () => {
      this.#poisoned = fn;
    });
  }

  /**
   * Score a batch, then learn it.
   * @param {Float64Array | ArrayLike<number | null> | ArrayLike<ArrayLike<number | null>>} values
   *   n values, or n * width row-major values with `options.width`, or n rows
   *   of width values each; NaN/null/±Infinity mark missing values
   * @param {{ timestamps?: BigInt64Array | ArrayLike<bigint | number | Date>, keys?: Uint32Array | ArrayLike<number>, width?: number }} [options]
   * @returns {Result}
   */
  process(values, options = {}) {
    const { v, width } = toRows(values, options.width);
    const n = v.length / width;
    const input = {
      timestamps: toTimestamps(options.timestamps, n),
      values: v,
      width,
      keys: toKeys(options.keys, n),
    };
    return new Result(this.#call('detector.process', (h) => h.process(input)));
  }

  /** The whole detector (config and every key's state) as bytes. */
  snapshot() {
    return this.#call('detector.snapshot', (h) => h.snapshot());
  }

  /** The effective config, every default filled in. */
  get config() {
    return JSON.parse(this.#call('detector.config', (h) => h.config()));
  }

  /** Number of key models held. */
  get keyCount() {
    return this.#call('detector.key-count', (h) => h.keyCount());
  }

  /** Drop the detector in the component; further calls throw. */
  close() {
    const handle = this.#handle;
    this.#handle = null;
    this.#api = null;
    if (handle !== null && this.#poisoned === null) {
      // jco's resources drop on its dispose symbol (Symbol.dispose, or its own
      // fallback where the runtime has none).
      const drop = handle[disposeSymbol] ?? handle[Symbol.for('dispose')];
      drop?.call(handle);
    }
  }

  [disposeSymbol]() {
    this.close();
  }
}
