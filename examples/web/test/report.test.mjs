// The NAB report of `wasmad eval nab --report` in a real Chromium: runs the
// CLI over the NAB corpus beside the project (../shared/data/NAB, or
// $WASMAD_NAB), opens the HTML file headless and checks that it renders:
// one chart per series with a drawn value line, the label windows and the
// detections, the score tables (per profile, per category, beside NAB's
// scoreboard) agreeing with the CLI's JSON, a clean console, no request
// leaving the file (the report is self-contained), and a screenshot.
//
//   cd examples/web && npm ci && node --test test/report.test.mjs
//
// Needs the CLI ($WASMAD_CLI, default $CARGO_TARGET_DIR/debug/wasmad, which
// scripts/test-bindings.sh builds) and Chromium (see chromium.mjs).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { launchChromium } from './chromium.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const CLI = process.env.WASMAD_CLI || join(process.env.CARGO_TARGET_DIR || join(ROOT, 'target'), 'debug', 'wasmad');
const NAB = process.env.WASMAD_NAB || resolve(ROOT, '../shared/data/NAB');
const SCREENSHOT =
  process.env.WASMAD_REPORT_SCREENSHOT ||
  join(process.env.CARGO_TARGET_DIR || tmpdir(), 'web', `wasmad-report-${process.pid}.png`);

let dir;
let summary; // the CLI's --format json output
let chromium;
let page;
const problems = [];

before(async () => {
  assert.ok(existsSync(CLI), `no wasmad CLI at ${CLI}: build it (cargo build -p wasmad-cli) or set WASMAD_CLI`);
  assert.ok(
    existsSync(join(NAB, 'labels/combined_windows.json')),
    `no NAB corpus at ${NAB}: the test reads ../shared/data/NAB beside the project, or set WASMAD_NAB`,
  );
  dir = mkdtempSync(join(tmpdir(), 'wasmad-report-'));
  const out = execFileSync(
    CLI,
    ['--format', 'json', 'eval', 'nab', '--data', NAB, '--report', join(dir, 'report.html')],
    { encoding: 'utf8', maxBuffer: 1 << 24, timeout: 600_000 },
  );
  summary = JSON.parse(out);
  chromium = await launchChromium();
  page = await chromium.context.newPage();
  await page.setViewportSize({ width: 1100, height: 1400 });
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  page.on('request', (r) => {
    if (!r.url().startsWith('file:')) problems.push(`request outside the file: ${r.url()}`);
  });
});

after(async () => {
  await chromium?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the report renders every series, the scores and the scoreboard', async () => {
  const html = join(dir, 'report.html');
  assert.ok(statSync(html).size > 100_000, 'the report is suspiciously small');
  await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });

  const series = await page.$$eval('section.series', (ss) =>
    ss.map((s) => {
      const svg = s.querySelector('svg.chart');
      const line = svg?.querySelector('path.value');
      const box = line?.getBBox();
      return {
        file: s.dataset.file,
        windows: Number(s.dataset.windows),
        detections: Number(s.dataset.detections),
        svgWidth: svg?.getBoundingClientRect().width ?? 0,
        lineWidth: box?.width ?? 0,
        lineHeight: box?.height ?? 0,
        windowRects: svg?.querySelectorAll('rect.window').length ?? 0,
        dots: svg?.querySelectorAll('circle.tp, circle.fp').length ?? 0,
        bands: svg?.querySelectorAll('path.band').length ?? 0,
      };
    }),
  );
  assert.equal(series.length, summary.files, 'one chart per corpus file');
  for (const s of series) {
    assert.ok(s.svgWidth > 500, `${s.file}: the chart is not laid out (${s.svgWidth} px wide)`);
    assert.ok(s.lineWidth > 500, `${s.file}: the value line is not drawn across the chart (${s.lineWidth})`);
    assert.equal(s.windowRects, s.windows, `${s.file}: one shaded rectangle per label window`);
    assert.equal(s.dots, s.detections, `${s.file}: one marker per detection`);
  }
  const windows = series.reduce((a, s) => a + s.windows, 0);
  assert.equal(windows, summary.windows);
  assert.ok(series.some((s) => s.lineHeight > 50), 'some value line has a visible vertical extent');
  assert.ok(series.some((s) => s.bands > 0), 'the z-score detector draws its forecast band');
  assert.ok(series.reduce((a, s) => a + s.dots, 0) > 0, 'some detections are drawn');

  // The per-profile table says what the CLI printed.
  for (const profile of ['standard', 'reward_low_FP_rate', 'reward_low_FN_rate']) {
    const shown = await page.$eval(`#profiles tr[data-profile="${profile}"] td:nth-child(2)`, (td) => td.textContent);
    assert.equal(shown, summary[profile].toFixed(2), `${profile} score in the table`);
  }
  const ours = await page.$eval('#scoreboard tr.ours', (tr) => [...tr.cells].map((c) => c.textContent));
  assert.equal(ours[1], summary.standard.toFixed(2));
  const board = await page.$$eval('#scoreboard tr td:first-child', (tds) => tds.map((t) => t.textContent));
  for (const name of ['ARTime', 'Numenta HTM', 'Windowed Gaussian']) assert.ok(board.includes(name), `${name} on the scoreboard`);
  const categories = await page.$$eval('#categories tr[data-category]', (trs) => trs.map((t) => t.dataset.category));
  assert.ok(categories.includes('realKnownCause') && categories.includes('artificialWithAnomaly'), `categories: ${categories}`);

  mkdirSync(dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT });
  const png = readFileSync(SCREENSHOT);
  assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'the screenshot is a PNG');
  console.log(`report screenshot: ${SCREENSHOT}`);
  assert.deepEqual(problems, []);
});
