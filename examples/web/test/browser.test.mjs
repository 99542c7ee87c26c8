// The browser example in a real Chromium: serves examples/web on 127.0.0.1,
// starts /usr/bin/chromium headless and drives it over the DevTools protocol
// (playwright-core's connectOverCDP), and checks that the page's flagged list
// is exactly what the same component flags in Node for the same series and
// config, that it contains the injected anomalies, that switching the
// algorithm in the config box re-runs the page, that a bad config shows the
// guest's error, that a screenshot is a PNG, and that the console stayed
// clean.
//
//   cd examples/web && npm ci && node --test test/*.test.mjs
//
// Needs the transpiled bindings (bindings/js/gen: scripts/test-bindings.sh or
// examples/web/start.sh builds them) and Chromium ($CHROMIUM, default
// /usr/bin/chromium; scripts/test-bindings.sh installs Debian's package when it
// is missing). Without either, the test fails and says so. The screenshot goes
// to $WASMAD_WEB_SCREENSHOT, default $CARGO_TARGET_DIR/web/ or the temp dir.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { checkBindingsBuilt, startServer } from '../serve.mjs';
import { syntheticSeries } from '../series.js';
import { launchChromium } from './chromium.mjs';

const SEED = 7;
const SCREENSHOT =
  process.env.WASMAD_WEB_SCREENSHOT ||
  join(process.env.CARGO_TARGET_DIR || tmpdir(), 'web', `wasmad-web-${process.pid}.png`);

let wasmad; // the Node bindings: the same package, the same component
let server;
let chromium; // { browser, context, close } of chromium.mjs
let page;
const consoleErrors = [];

before(async () => {
  checkBindingsBuilt();
  wasmad = await import('../../../bindings/js/src/index.js');
  server = await startServer();
  chromium = await launchChromium();
  page = await chromium.context.newPage();
  await page.setViewportSize({ width: 1200, height: 1100 });
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`console.error: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
  page.on('requestfailed', (r) => consoleErrors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => {
    if (r.status() >= 400) consoleErrors.push(`HTTP ${r.status()}: ${r.url()}`);
  });
});

after(async () => {
  await chromium?.close();
  await server?.close();
});

/** Wait for run number `run` of the page to finish; fail with the page's error if it shows one. */
async function waitForRun(run, timeout = 60_000) {
  await page.waitForFunction(
    (r) => Number(document.body.dataset.run) >= r && ['done', 'error'].includes(document.body.dataset.state),
    run,
    { timeout },
  );
  const state = await page.evaluate(() => document.body.dataset.state);
  if (state === 'error') assert.fail(`the page shows an error: ${await page.textContent('#error')}`);
}

/** The page's flagged rows, as the DOM shows them. */
async function flaggedRows() {
  return page.$$eval('#flagged [data-index]', (trs) =>
    trs.map((tr) => ({ index: Number(tr.dataset.index), timestamp: tr.dataset.timestamp, value: tr.dataset.value })),
  );
}

/** What the Node bindings flag for the page's series and config. */
function expectedRows(config, n = 2000) {
  const s = syntheticSeries({ seed: SEED, n });
  const d = new wasmad.Detector(config);
  try {
    const r = d.process(s.values, { timestamps: s.timestamps });
    const rows = r.anomalies().map((i) => ({ index: i, timestamp: String(s.timestamps[i]), value: String(s.values[i]) }));
    return { rows, injected: s.injected };
  } finally {
    d.close();
  }
}

/** Check the page's list against Node and the injected anomalies `mustFlag` picks. */
async function checkAgainstNode(config, mustFlag, n = 2000) {
  const rows = await flaggedRows();
  const { rows: expected, injected } = expectedRows(config, n);
  assert.ok(expected.length > 0, 'the Node run flags something');
  assert.deepEqual(rows, expected, `${config.algorithm}: the page flags what the Node bindings flag`);
  assert.equal(await page.textContent('#count'), String(expected.length), '#count is the number of flagged rows');
  const flagged = new Set(rows.map((r) => r.index));
  for (const i of mustFlag(injected)) assert.ok(flagged.has(i), `${config.algorithm}: injected anomaly at row ${i} is flagged`);
  return rows;
}

test('the page streams the seeded series with zscore and flags what Node flags, spikes included', async () => {
  await page.goto(`${server.url}?seed=${SEED}&algorithm=zscore`);
  await waitForRun(1);
  assert.equal(await page.evaluate(() => document.body.dataset.algorithm), 'zscore');
  const options = await page.$$eval('#algorithm option', (os) => os.map((o) => o.value));
  assert.deepEqual(options, wasmad.describe().algorithms.map((a) => a.name), 'the select lists describe()');
  // A cumulative z-score flags every spike and dip before the level shift and
  // the shift itself; after the shift its variance has grown too much for
  // later dips, which is why the test asks no more of it.
  await checkAgainstNode({ algorithm: 'zscore' }, (inj) => [
    ...inj.spikes,
    ...inj.dips.filter((i) => i < inj.levelShift),
    inj.levelShift,
  ]);
  // Streamed: 2000 rows, 20 per process call.
  assert.equal(await page.evaluate(() => document.body.dataset.batches), '100');
  const rate = Number(await page.evaluate(() => document.body.dataset.rowsPerSecond));
  assert.ok(rate > 0, 'the page reports its streaming rate');
  console.log(`# page: ${await page.textContent('#stats')}`);
});

test('switching the algorithm in the config box re-runs the page', async () => {
  const run = Number(await page.evaluate(() => document.body.dataset.run));
  await page.selectOption('#algorithm', 'mad');
  await waitForRun(run + 1);
  assert.equal(await page.evaluate(() => document.body.dataset.algorithm), 'mad');
  assert.deepEqual(JSON.parse(await page.inputValue('#config')), { algorithm: 'mad' });
  // A rolling median recovers after the shift: every injected anomaly is flagged.
  await checkAgainstNode({ algorithm: 'mad' }, (inj) => [...inj.spikes, ...inj.dips, inj.levelShift]);

  // An edited config goes through the Run button.
  await page.fill('#config', JSON.stringify({ algorithm: 'ewma', alpha: 0.05, threshold: 4 }));
  await page.click('#run');
  await waitForRun(run + 2);
  assert.equal(await page.inputValue('#algorithm'), 'ewma', 'the select follows the config box');
  await checkAgainstNode({ algorithm: 'ewma', alpha: 0.05, threshold: 4 }, (inj) => inj.spikes);
});

test('a bad config shows the error on the page', async () => {
  const run = Number(await page.evaluate(() => document.body.dataset.run));
  await page.fill('#config', '{"algorithm": "nope"}');
  await page.click('#run');
  await page.waitForFunction((r) => Number(document.body.dataset.run) > r && document.body.dataset.state === 'error', run);
  const message = await page.textContent('#error');
  assert.match(message, /^InvalidConfigError: unknown algorithm 'nope'; accepted: zscore, ewma, mad/);
  assert.equal(await page.isVisible('#error'), true);

  await page.fill('#config', '{"algorithm": "zscore", ');
  await page.click('#run');
  await page.waitForFunction((r) => Number(document.body.dataset.run) > r + 1 && document.body.dataset.state === 'error', run);
  assert.match(await page.textContent('#error'), /^the config is not valid JSON: /);

  await page.fill('#config', '{"algorithm": "zscore", "threshold": -1}');
  await page.click('#run');
  await page.waitForFunction((r) => Number(document.body.dataset.run) > r + 2 && document.body.dataset.state === 'error', run);
  assert.match(await page.textContent('#error'), /^InvalidConfigError: .*threshold/);

  // A good config clears the error.
  await page.fill('#config', '{"algorithm": "zscore"}');
  await page.click('#run');
  await waitForRun(run + 4);
  assert.equal(await page.isVisible('#error'), false);
});

test('the page measures its throughput and takes a screenshot', async () => {
  const run = Number(await page.evaluate(() => document.body.dataset.run));
  await page.click('#bench');
  await waitForRun(run + 1, 120_000);
  const rate = Number(await page.evaluate(() => document.body.dataset.benchRowsPerSecond));
  assert.ok(rate > 100_000, `one process call runs at more than 100k rows/s in Chromium (got ${rate})`);
  console.log(`# page: ${await page.textContent('#throughput')}`);

  mkdirSync(dirname(SCREENSHOT), { recursive: true });
  rmSync(SCREENSHOT, { force: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  assert.ok(statSync(SCREENSHOT).size > 10_000, 'the screenshot has content');
  const png = readFileSync(SCREENSHOT);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  console.log(`# screenshot: ${SCREENSHOT}`);
});

test('streaming without pauses: 200k rows, 2000 per call, plotted after each', async () => {
  await page.goto(`${server.url}?seed=${SEED}&algorithm=zscore&n=200000&batch=2000&delay=0`);
  await waitForRun(1, 120_000);
  assert.equal(await page.evaluate(() => document.body.dataset.batches), '100');
  await checkAgainstNode({ algorithm: 'zscore' }, (inj) => inj.spikes, 200_000);
  console.log(`# page: ${await page.textContent('#stats')}`);
});

test('a bad URL parameter shows the error on the page', async () => {
  await page.goto(`${server.url}?algorithm=nope`);
  await page.waitForFunction(() => document.body.dataset.state === 'error');
  assert.equal(
    await page.textContent('#error'),
    'URL parameter algorithm=nope: accepted: ' + wasmad.describe().algorithms.map((a) => a.name).join(', '),
  );
  await page.goto(`${server.url}?seed=-3`);
  await page.waitForFunction(() => document.body.dataset.state === 'error');
  assert.equal(await page.textContent('#error'), 'URL parameter seed=-3: expected an integer in 0 .. 4294967295');
});

test('the console stayed clean', () => {
  assert.deepEqual(consoleErrors, []);
});
