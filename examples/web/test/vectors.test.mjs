// The shared parity vectors in a real Chromium: serves examples/web and
// tests/vectors on 127.0.0.1, opens vectors.html in headless /usr/bin/chromium
// (chromium.mjs), which replays every vector through the wasmad package and
// the jco output with bindings/js/test/replay.mjs (the Node replay's code:
// batch splits and restore point twice, then one call as an array of rows,
// every f64 compared by its bits), and checks that every vector of
// tests/vectors passed, that a corrupted copy of a vector fails with the
// difference named, and that the console stayed clean.
//
//   cd examples/web && npm ci && node --test test/vectors.test.mjs
//
// Needs the transpiled bindings (bindings/js/gen) and Chromium, as
// browser.test.mjs does.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { ROOT, checkBindingsBuilt, startServer } from '../serve.mjs';
import { launchChromium } from './chromium.mjs';

const DIR = join(ROOT, 'tests', 'vectors');
const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();
const vector = (file) => JSON.parse(readFileSync(join(DIR, file), 'utf8'));

let server;
let chromium;
let page;
let result;
const consoleErrors = [];

before(async () => {
  checkBindingsBuilt();
  server = await startServer();
  chromium = await launchChromium();
  page = await chromium.context.newPage();
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

test('every vector of tests/vectors replays bit-identically in Chromium', async () => {
  assert.ok(files.length >= 10, `tests/vectors holds ${files.length} vectors`);
  await page.goto(new URL('vectors.html', server.url).href);
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state), null, { timeout: 120_000 });
  if ((await page.evaluate(() => document.body.dataset.state)) === 'error') {
    assert.fail(`the page shows an error: ${await page.textContent('#error')}`);
  }
  result = await page.evaluate(() => window.__result);
  const failed = result.results.filter((r) => !r.ok);
  assert.deepEqual(failed.map((r) => `${r.name}: ${r.error}`), [], 'no vector fails');
  assert.equal(result.total, files.length, 'the page replayed as many vectors as tests/vectors holds');
  assert.equal(result.passed, files.length);
  assert.deepEqual(
    result.results.map((r) => `${r.name}.json`),
    files,
    'the page replayed exactly the files of tests/vectors, in order',
  );
  for (const r of result.results) {
    assert.deepEqual(r.runs, ['run 1', 'run 2', 'one call'], `${r.name}: all three replays`);
    assert.ok(r.compared >= 3 * 4 * r.rows, `${r.name}: at least forecast, lower, upper, score of every row, 3 times`);
  }
  assert.ok(result.results.some((r) => r.width > 1), 'multivariate vectors among them');
  // What the page shows agrees with window.__result.
  assert.equal(await page.locator('#vectors tr[data-ok="true"]').count(), files.length);
  assert.match(await page.textContent('#summary'), new RegExp(`^${files.length} of ${files.length} vectors bit-identical`));
  console.log(`# page: ${await page.textContent('#summary')}`);
});

/** Flip bit `bit` (0: the lowest of the mantissa, 63: the sign) of an f64 written as 16 hex digits. */
const flipBit = (h, bit = 0) => (BigInt(`0x${h}`) ^ (1n << BigInt(bit))).toString(16).padStart(16, '0');

/** Replay `v` in the page (window.__replayVector) and return its entry. */
const replayInPage = (v) => page.evaluate((x) => window.__replayVector(x), v);

test('a corrupted copy of a vector fails in the page, naming the difference', async () => {
  assert.ok(result, 'the page ran (previous test)');
  // The file as it is passes through the same entry point.
  const withExtras = files.map(vector).find((v) => v.width > 1 && (v.extras ?? []).some((e) => e.name === 'attribution'));
  assert.ok(withExtras, 'a multivariate vector with attribution');
  const good = await replayInPage(withExtras);
  assert.equal(good.ok, true, good.error);

  const corruptions = [
    ['score: one bit of one row', (v) => (v.score[137] = flipBit(v.score[137])), /\(run 1\): score\[137\] differs: want /],
    ['a flag', (v) => (v.flags[200] ^= 1), /\(run 1\): flags\[200\] differs/],
    ['one bit of the attribution', (v) => (v.extras[0].values[41] = flipBit(v.extras[0].values[41])), /\(run 1\): extra attribution\[41\] differs/],
    ['the key count', (v) => (v.key_count += 1), /\(run 1\): key count \d+, want \d+/],
    ['the sign of an input value', (v) => (v.values[100] = flipBit(v.values[100], 63)), /\(run 1\): \w+\[\d+\] differs/],
  ];
  for (const [what, corrupt, message] of corruptions) {
    const v = structuredClone(withExtras);
    corrupt(v);
    const r = await replayInPage(v);
    assert.equal(r.ok, false, `corrupted ${what}: detected`);
    assert.match(r.error, /^ReplayMismatch: /, `corrupted ${what}`);
    assert.match(r.error, message, `corrupted ${what}`);
  }

  // A NaN's payload counts: the detectors write 7ff8000000000000 for rows that
  // are not ok; 7ff8000000000001 is also NaN, but not the same bits.
  const univariate = vector('zscore_default.json');
  const i = univariate.forecast.indexOf('7ff8000000000000');
  assert.ok(i >= 0, 'zscore_default has a NaN forecast');
  const v = structuredClone(univariate);
  v.forecast[i] = '7ff8000000000001';
  const r = await replayInPage(v);
  assert.equal(r.ok, false);
  assert.match(r.error, new RegExp(`forecast\\[${i}\\] differs: want 7ff8000000000001, got 7ff8000000000000`));
});

test('the console stayed clean', () => {
  assert.deepEqual(consoleErrors, []);
});
