// Types for wasmad (src/index.js).

/** The ABI version this package speaks (`abi-version` of wit/detector.wit). */
export const ABI_VERSION: number;

/** Base class of every error thrown by wasmad. */
export class WasmadError extends Error {}
/** The detector returned one of the typed errors of wit/detector.wit; `message` is the guest's own. */
export class GuestError extends WasmadError {
  readonly kind: 'invalid-config' | 'invalid-input' | 'invalid-snapshot';
}
/** `invalid-config`: malformed JSON, unknown algorithm or key, out-of-range value. */
export class InvalidConfigError extends GuestError {
  readonly kind: 'invalid-config';
}
/** `invalid-input`: column lengths disagree, bad width, a key id that is not dense. */
export class InvalidInputError extends GuestError {
  readonly kind: 'invalid-input';
}
/** `invalid-snapshot`: truncated, corrupt, or an unknown envelope version. */
export class InvalidSnapshotError extends GuestError {
  readonly kind: 'invalid-snapshot';
}
/** A call trapped; the detector is unusable afterwards. */
export class CallError extends WasmadError {
  readonly kind: 'trap';
  /** The WIT function that failed, e.g. `detector.process`. */
  readonly function: string;
}

export type Algorithm =
  | 'zscore'
  | 'ewma'
  | 'mad'
  | 'holtwinters'
  | 'rcf'
  | 'spike_dip'
  | 'change_point'
  | 'robust'
  | 'arima';

/** A detector config; `wasmad describe` (or `describe()`) lists every key. */
export interface Config {
  algorithm?: Algorithm;
  threshold?: number;
  minTrainingSize?: number;
  direction?: 'both' | 'up' | 'down';
  window?: number;
  alpha?: number;
  halfLife?: number;
  [key: string]: unknown;
}

export interface ProcessOptions {
  /** n event times, microseconds since the Unix epoch (zeros when omitted). */
  timestamps?: BigInt64Array | ArrayLike<bigint | number | Date>;
  /** n dense key ids (a new key's id is the number of keys seen so far); omit for one model. */
  keys?: Uint32Array | ArrayLike<number>;
  /** Values per row (1 for univariate detectors): `values` then holds n * width
   * values, row-major. Taken from the rows when `values` is an array of rows. */
  width?: number;
}

/** An extra output column: `perRow` values for each row, row-major. Names in
 * use: `attribution` (2 * width per row: each column's (high, low) share of
 * the score; rcf, robust), `rmse`, `aic`, `forecast`. */
export class Extra {
  readonly name: string;
  readonly perRow: number;
  /** rows * perRow values, row-major. */
  readonly values: Float64Array;
  /** Number of rows. */
  readonly length: number;
  /** Row `i`'s perRow values (a view). */
  row(i: number): Float64Array;
}

export interface Row {
  forecast: number;
  lower: number;
  upper: number;
  score: number;
  isAnomaly: boolean;
  direction: 'up' | 'down' | null;
  status: 'ok' | 'warmup' | 'skipped';
  severity: 'low' | 'medium' | 'high' | null;
  probability: number | null;
  /** Row i of each extra output, by name (empty for most algorithms). */
  extras: Record<string, Float64Array>;
}

/** Scores for one batch, one element per input row. f64 columns are NaN unless status is ok. */
export class Result implements Iterable<Row> {
  readonly forecast: Float64Array;
  readonly lower: Float64Array;
  readonly upper: Float64Array;
  readonly score: Float64Array;
  /** The raw flag byte per row (see wit/detector.wit). */
  readonly flags: Uint8Array;
  /** A calibrated probability per row, or null when the detector computes none. */
  readonly probability: Float64Array | null;
  /** Further outputs some algorithms add, by name (e.g. `attribution` for rcf and robust); empty for most. */
  readonly extras: Map<string, Extra>;
  readonly length: number;
  isAnomaly(i: number): boolean;
  direction(i: number): 'up' | 'down' | null;
  status(i: number): 'ok' | 'warmup' | 'skipped';
  severity(i: number): 'low' | 'medium' | 'high' | null;
  row(i: number): Row;
  /** Indices of the anomalous rows. */
  anomalies(): number[];
  [Symbol.iterator](): Iterator<Row>;
}

/** One streaming detector in a WebAssembly instance of its own. */
export class Detector implements Disposable {
  constructor(config?: Config | string);
  /** A detector rebuilt from `snapshot()` bytes. */
  static restore(snapshot: Uint8Array): Detector;
  /** Score a batch against each key's baseline, then learn it. */
  process(
    values: Float64Array | ArrayLike<number | null> | ArrayLike<ArrayLike<number | null>>,
    options?: ProcessOptions,
  ): Result;
  /** The whole detector (config and every key's state) as bytes. */
  snapshot(): Uint8Array;
  /** The effective config, every default filled in. */
  readonly config: Config;
  /** Number of key models held. */
  readonly keyCount: number;
  /** Drop the detector; further calls throw. */
  close(): void;
  [Symbol.dispose](): void;
}

/** The component's describe(): algorithms, config keys, types, defaults and ranges. */
export function describe(): {
  module: string;
  version: string;
  abi: number;
  algorithms: Array<{ name: string; description: string; multivariate: boolean; params: unknown[] }>;
  [key: string]: unknown;
};
