// The page: loads the wasmad package (wasmad-browser.js), fills the algorithm
// list from describe(), streams the seeded series of series.js through one
// Detector batch by batch, and after every batch redraws the plot and appends
// the newly flagged rows to the table.
//
// What a test reads: <body data-state> is loading, streaming, done or error;
// data-run counts runs (each Run, or a change of algorithm, starts one);
// data-algorithm is the algorithm of the last run; data-batches counts its
// process calls; data-rows-per-second is its rate; #count is the number of
// flagged rows; each flagged row (#flagged [data-index]) carries data-index, data-timestamp
// (microseconds) and data-value (the exact value, as JS prints it).
import { PERIOD, syntheticSeries } from './series.js';
import { SeriesPlot } from './plot.js';
import { loadWasmad } from './wasmad-browser.js';

const $ = (id) => document.getElementById(id);
const url = new URLSearchParams(location.search);

let wasmad = null;
let info = null;
let runId = 0;
const plot = new SeriesPlot($('plot'));
let drawPending = false;

/** Redraw at the next frame, once however many batches arrive before it. */
function requestDraw() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => {
    drawPending = false;
    plot.draw();
  });
}

function intParam(name, fallback, min, max) {
  const raw = url.get(name);
  if (raw === null || raw === '') return fallback;
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    throw new Error(`URL parameter ${name}=${raw}: expected an integer in ${min} .. ${max}`);
  }
  return v;
}

function setState(state) {
  document.body.dataset.state = state;
}

function showError(message) {
  const box = $('error');
  box.textContent = message;
  box.hidden = false;
  setState('error');
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

function errorText(e) {
  return e?.name && e.name !== 'Error' ? `${e.name}: ${e.message}` : String(e?.message ?? e);
}

function algorithmInfo(name) {
  return info.algorithms.find((a) => a.name === name) ?? null;
}

/** The config the box gets when an algorithm is picked. */
function template(name) {
  const config = { algorithm: name };
  if (algorithmInfo(name)?.params.some((p) => p.key === 'period')) config.period = PERIOD;
  return JSON.stringify(config, null, 2);
}

function showAlgorithm(name) {
  const a = algorithmInfo(name);
  $('algorithm-help').textContent = a ? a.description + (a.multivariate ? ' (multivariate; here: one column)' : '') : '';
  const body = $('params').tBodies[0];
  body.replaceChildren();
  for (const p of a?.params ?? []) {
    const range = p.values ? p.values.join(' | ') : [p.min, p.max].every((x) => x == null) ? '' : `${p.min ?? ''} .. ${p.max ?? ''}`;
    const tr = body.insertRow();
    for (const text of [p.key, p.type, JSON.stringify(p.default), range, p.description ?? '']) {
      tr.insertCell().textContent = text;
    }
  }
}

/** The config box as an object, or an error shown on the page. */
function readConfig() {
  let config;
  try {
    config = JSON.parse($('config').value);
  } catch (e) {
    throw new Error(`the config is not valid JSON: ${e.message}`);
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new Error('the config must be a JSON object, such as {"algorithm": "zscore"}');
  }
  return config;
}

function readSeed() {
  const raw = $('seed').value.trim();
  const seed = Number(raw);
  if (raw === '' || !Number.isSafeInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new Error(`seed must be an integer in 0 .. 4294967295, got '${raw}'`);
  }
  return seed;
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
/** Yield to the event loop without setTimeout's 4 ms clamp. */
const yieldTask = () =>
  new Promise((ok) => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => ok();
    port2.postMessage(null);
  });
const fmt = (x, digits = 3) => (Number.isFinite(x) ? x.toFixed(digits) : '');
const isoOf = (us) => new Date(Number(us / 1000n)).toISOString().replace('.000Z', 'Z');

/** Start a run with the config box's config; a run in progress stops. */
async function run() {
  const id = ++runId;
  document.body.dataset.run = String(id);
  clearError();
  let detector;
  let series;
  let batch;
  let delay;
  try {
    batch = intParam('batch', 20, 1, 1_000_000);
    delay = intParam('delay', 15, 0, 10_000);
    const config = readConfig();
    if (typeof config.algorithm === 'string' && algorithmInfo(config.algorithm)) {
      $('algorithm').value = config.algorithm;
      showAlgorithm(config.algorithm);
    }
    series = syntheticSeries({ seed: readSeed(), n: intParam('n', 2000, 400, 1_000_000) });
    detector = new wasmad.Detector(config);
  } catch (e) {
    showError(errorText(e));
    return;
  }
  const algorithm = detector.config.algorithm;
  document.body.dataset.algorithm = algorithm;
  $('effective').textContent = JSON.stringify(detector.config, null, 2);

  const n = series.values.length;
  plot.reset(series);
  plot.draw();
  let flaggedCount = 0;
  const list = $('flagged-rows');
  list.replaceChildren();
  $('count').textContent = '0';
  $('stats').textContent = '';
  document.body.dataset.batches = '0';
  setState('streaming');

  const started = performance.now();
  let inDetector = 0;
  try {
    for (let at = 0; at < n; at += batch) {
      if (id !== runId) return; // a newer run took over
      const end = Math.min(n, at + batch);
      const t = performance.now();
      const r = detector.process(series.values.subarray(at, end), { timestamps: series.timestamps.subarray(at, end) });
      inDetector += performance.now() - t;
      const anomalies = r.anomalies();
      if (anomalies.length > 0) {
        const chunk = document.createElement('div');
        chunk.className = 'chunk';
        chunk.setAttribute('role', 'presentation');
        chunk.style.containIntrinsicSize = `auto ${anomalies.length * 1.5}rem`;
        for (const k of anomalies) {
          const i = at + k;
          const row = document.createElement('div');
          row.className = 'flag-row';
          row.setAttribute('role', 'row');
          row.dataset.index = String(i);
          row.dataset.timestamp = String(series.timestamps[i]);
          row.dataset.value = String(series.values[i]);
          const cells = [i, isoOf(series.timestamps[i]), fmt(series.values[i]), fmt(r.lower[k]), fmt(r.upper[k]), fmt(r.score[k], 2), r.direction(k), r.severity(k) ?? ''];
          for (const c of cells) {
            const cell = document.createElement('span');
            cell.setAttribute('role', 'cell');
            cell.textContent = String(c);
            row.append(cell);
          }
          chunk.append(row);
        }
        list.append(chunk);
      }
      flaggedCount += anomalies.length;
      plot.add(at, r.lower, r.upper, anomalies.map((k) => at + k));
      document.body.dataset.batches = String(Number(document.body.dataset.batches) + 1);
      $('count').textContent = String(flaggedCount);
      requestDraw();
      const secs = (performance.now() - started) / 1000;
      $('stats').textContent = `${algorithm}: ${end} / ${n} rows, ${flaggedCount} flagged, ${Math.round(end / secs)} rows/s`;
      await (delay > 0 ? sleep(delay) : yieldTask());
    }
  } catch (e) {
    if (id === runId) showError(errorText(e));
    return;
  } finally {
    detector.close();
  }
  if (id !== runId) return;
  plot.draw();
  const secs = (performance.now() - started) / 1000;
  const rate = Math.round(n / secs);
  document.body.dataset.rowsPerSecond = String(rate);
  $('stats').textContent =
    `${algorithm}: ${n} rows in ${secs.toFixed(2)} s = ${rate.toLocaleString('en')} rows/s streamed and plotted ` +
    `(${batch} rows per process call, ${delay} ms pause between calls; ${inDetector.toFixed(1)} ms inside process), ` +
    `${flaggedCount} flagged`;
  setState('done');
}

/** One process call over `rows` rows on a fresh detector, best of 3. */
async function bench() {
  const id = ++runId; // stops a stream in progress
  document.body.dataset.run = String(id);
  clearError();
  setState('streaming');
  try {
    const rows = intParam('benchRows', 1_000_000, 1000, 10_000_000);
    $('throughput').textContent = `measuring: ${rows.toLocaleString('en')} rows in one process call ...`;
    await sleep(20); // let the text paint
    const config = readConfig();
    const series = syntheticSeries({ seed: readSeed(), n: rows });
    let best = Infinity;
    let algorithm = '';
    for (let k = 0; k < 3; k++) {
      const d = new wasmad.Detector(config);
      algorithm = d.config.algorithm;
      try {
        d.process(series.values.subarray(0, 1000), { timestamps: series.timestamps.subarray(0, 1000) });
        const t = performance.now();
        d.process(series.values, { timestamps: series.timestamps });
        best = Math.min(best, performance.now() - t);
      } finally {
        d.close();
      }
      await sleep(0);
    }
    const rate = Math.round(rows / (best / 1000));
    document.body.dataset.benchRowsPerSecond = String(rate);
    document.body.dataset.algorithm = algorithm;
    $('throughput').textContent =
      `${algorithm}: ${rows.toLocaleString('en')} rows in one process call: ${best.toFixed(1)} ms = ` +
      `${rate.toLocaleString('en')} rows/s (best of 3, after a 1000-row warm-up)`;
    setState('done');
  } catch (e) {
    $('throughput').textContent = '';
    showError(errorText(e));
  }
}

// ---- start ----------------------------------------------------------------

async function main() {
  try {
    wasmad = await loadWasmad();
    info = wasmad.describe();
  } catch (e) {
    showError(`could not load the detector component: ${errorText(e)}`);
    return;
  }
  const select = $('algorithm');
  for (const a of info.algorithms) {
    const option = new Option(a.multivariate ? `${a.name} (multivariate)` : a.name, a.name);
    option.title = a.description;
    select.add(option);
  }
  let initial;
  try {
    $('seed').value = String(intParam('seed', 7, 0, 0xffffffff));
    const algorithm = url.get('algorithm') ?? 'zscore';
    if (!algorithmInfo(algorithm)) {
      throw new Error(`URL parameter algorithm=${algorithm}: accepted: ${info.algorithms.map((a) => a.name).join(', ')}`);
    }
    initial = url.get('config') ?? template(algorithm);
    select.value = algorithm;
    showAlgorithm(algorithm);
  } catch (e) {
    showError(errorText(e));
    return;
  }
  $('config').value = initial;
  select.disabled = false;
  $('run').disabled = false;
  $('bench').disabled = false;
  select.addEventListener('change', () => {
    $('config').value = template(select.value);
    showAlgorithm(select.value);
    run();
  });
  $('run').addEventListener('click', () => run());
  $('bench').addEventListener('click', () => bench());
  new ResizeObserver(([entry]) => {
    plot.resize(entry.contentRect.width, entry.contentRect.height);
  }).observe($('plot'));
  run();
}

main();
