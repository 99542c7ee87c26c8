// The vector replay page: loads the wasmad package as the example page does
// (wasmad-browser.js), fetches the list of parity vectors the server serves
// (/tests/vectors/, a JSON array of file names) and replays each one with
// replayVector of bindings/js/test/replay.mjs, the module the Node replay
// uses: batch splits and restore point twice, then one call as an array of
// rows, every output compared by its bits.
//
// What a test reads: <body data-state> is loading, running, done or error;
// window.__result (also printed in #result) is
//   { total, passed, failed, compared, ms, results: [{ name, ok, rows, width,
//     runs, compared, error }] }
// and window.__replayVector(vector) replays one vector object (e.g. a
// corrupted copy) and returns its entry of that shape.
import { replayVector } from '../../bindings/js/test/replay.mjs';
import { loadWasmad } from './wasmad-browser.js';

const $ = (id) => document.getElementById(id);

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = false;
  $('summary').textContent = 'failed to run the vectors';
  document.body.dataset.state = 'error';
}

/** One vector's replay as a plain, JSON-able entry; a mismatch is a failed entry, not a throw. */
function replayEntry(Detector, v) {
  try {
    return { ok: true, error: null, ...replayVector(Detector, v) };
  } catch (e) {
    return { name: v?.name ?? '?', ok: false, error: `${e.name}: ${e.message}` };
  }
}

function addRow(entry) {
  const tr = document.createElement('tr');
  tr.dataset.vector = entry.name;
  tr.dataset.ok = String(entry.ok);
  for (const text of [entry.name, entry.rows ?? '', entry.width ?? '', entry.compared ?? '', entry.ok ? 'bit-identical' : entry.error]) {
    const td = document.createElement('td');
    td.textContent = String(text);
    tr.append(td);
  }
  $('vectors').tBodies[0].append(tr);
}

async function fetchJson(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`fetch ${url}: HTTP ${res.status} ${res.statusText}`);
  return res.json();
}

async function main() {
  const wasmad = await loadWasmad();
  window.__replayVector = (v) => replayEntry(wasmad.Detector, v);
  document.body.dataset.state = 'running';
  const dir = new URL('../../tests/vectors/', location.href);
  const files = await fetchJson(dir);
  if (!Array.isArray(files) || files.length === 0) throw new Error(`${dir.href} lists no vectors`);
  const t0 = performance.now();
  const results = [];
  for (const file of files) {
    const v = await fetchJson(new URL(file, dir));
    const entry = replayEntry(wasmad.Detector, v);
    if (entry.ok && `${v.name}.json` !== file) Object.assign(entry, { ok: false, error: `${file} names itself ${v.name}` });
    results.push(entry);
    addRow(entry);
    $('summary').textContent = `${results.length} of ${files.length} vectors replayed`;
  }
  const passed = results.filter((r) => r.ok).length;
  const result = {
    total: results.length,
    passed,
    failed: results.length - passed,
    compared: results.reduce((n, r) => n + (r.compared ?? 0), 0),
    ms: Math.round(performance.now() - t0),
    results,
  };
  window.__result = result;
  $('result').textContent = JSON.stringify(result, null, 1);
  $('summary').textContent =
    `${passed} of ${result.total} vectors bit-identical (${result.compared} f64 outputs compared, ` +
    `3 replays each) in ${result.ms} ms` + (result.failed ? `; ${result.failed} FAILED` : '');
  document.body.dataset.state = 'done';
}

main().catch((e) => showError(`${e.name}: ${e.message}`));
