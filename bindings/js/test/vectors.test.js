// Every shared vector (tests/vectors, written by the Rust host) replays bit for
// bit through the jco-transpiled component: with its batch splits and its
// snapshot/restore point, twice; and once more in a single call, passing the
// rows as an array of rows. Multivariate vectors (width > 1) and the extra
// outputs (e.g. rcf's and robust's attribution) are compared too. The replay
// and the comparison are in replay.mjs, which the browser replay
// (examples/web/vectors.js, in headless Chromium) shares.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';

import { Detector } from '../src/index.js';
import { compareReplay, replay } from './replay.mjs';

const DIR = new URL('../../../tests/vectors/', import.meta.url);
const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();

test('there are vectors, multivariate ones with extras among them', () => {
  assert.ok(files.length >= 10, `found ${files.length}`);
  const vs = files.map((f) => JSON.parse(readFileSync(new URL(f, DIR), 'utf8')));
  assert.ok(vs.some((v) => v.width > 1 && v.extras.some((e) => e.name === 'attribution')));
});

for (const file of files) {
  const v = JSON.parse(readFileSync(new URL(file, DIR), 'utf8'));
  test(`vector ${v.name} replays bit-identically, twice`, () => {
    for (const run of ['run 1', 'run 2']) {
      compareReplay(v, replay(Detector, v, v.batches, v.restore_after_batch), run);
    }
  });
  test(`vector ${v.name} in one call, as an array of rows`, () => {
    compareReplay(v, replay(Detector, v, [v.rows], null, { arrayOfRows: true }), 'one call');
  });
}
