// The static server: it serves the page, the bindings' sources and the jco
// output, the parity vectors (tests/vectors/*.json, and their list) and the
// shared replay module, with the right types, and nothing else of the
// repository.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';

import { ROOT, startServer } from '../serve.mjs';

let server;
let origin;
before(async () => {
  server = await startServer();
  origin = new URL(server.url).origin;
});
after(() => server?.close());

/** GET `path` exactly as written (no client-side normalisation of `..`). */
function get(path, method = 'GET') {
  return new Promise((ok, fail) => {
    const req = request(`${origin}${path}`, { method }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (d) => (body += d));
      res.on('end', () => ok({ status: res.statusCode, type: res.headers['content-type'], location: res.headers.location, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

test('binds 127.0.0.1 on a free port', () => {
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/examples\/web\/$/);
  assert.equal(server.server.address().address, '127.0.0.1');
});

const served = [
  ['/examples/web/', 200, 'text/html; charset=utf-8'],
  ['/examples/web/app.js', 200, 'text/javascript; charset=utf-8'],
  ['/bindings/js/src/index.js', 200, 'text/javascript; charset=utf-8'],
  ['/bindings/js/gen/detector.core.wasm', 200, 'application/wasm'],
  ['/examples/web/vectors.html', 200, 'text/html; charset=utf-8'],
  ['/bindings/js/test/replay.mjs', 200, 'text/javascript; charset=utf-8'],
  ['/tests/vectors/zscore_default.json', 200, 'application/json'],
];
for (const [path, status, type] of served) {
  test(`serves ${path}`, async () => {
    const r = await get(path);
    assert.equal(r.status, status);
    assert.equal(r.type, type);
    assert.ok(r.body.length > 0);
  });
}

const refused = [
  '/Cargo.toml',
  '/bindings/js/package.json',
  '/examples/web/../../Cargo.toml',
  '/bindings/js/gen/%2e%2e/%2e%2e/%2e%2e/Cargo.toml',
  '/examples/web/node_modules/playwright-core/package.json',
  '/examples/web/test/serve.test.mjs',
  '/examples/web/nope.js',
  '/bindings/js/test/vectors.test.js',
  '/bindings/js/test/',
  '/tests/',
  '/tests/vectors/README.md',
  '/tests/vectors/nope.json',
  '/tests/vectors/../../Cargo.toml',
  '/tests/vectors/%2e%2e/%2e%2e/Cargo.toml',
  '/tests/vectors/%2e%2e%2fvectors%2fzscore_default.json',
  '/tests/vectors/%2e%2e%2f%2e%2e%2fbindings%2fjs%2fpackage.json',
  '/tests/vectors/sub/zscore_default.json',
];
for (const path of refused) {
  test(`refuses ${path}`, async () => {
    const r = await get(path);
    assert.equal(r.status, 404);
    assert.match(r.body, /^not found: /);
  });
}

test('lists the vectors at /tests/vectors/: the JSON files there, sorted, nothing else', async () => {
  const names = readdirSync(join(ROOT, 'tests', 'vectors')).filter((f) => f.endsWith('.json')).sort();
  assert.ok(names.length >= 10);
  const r = await get('/tests/vectors/');
  assert.equal(r.status, 200);
  assert.equal(r.type, 'application/json');
  assert.deepEqual(JSON.parse(r.body), names);
  const file = await get(`/tests/vectors/${names[0]}`);
  assert.equal(file.body, readFileSync(join(ROOT, 'tests', 'vectors', names[0]), 'latin1'), 'served unchanged');
  assert.equal((await get('/tests/vectors/', 'HEAD')).status, 200);
});

test('redirects / to the page; refuses methods other than GET and HEAD', async () => {
  const r = await get('/');
  assert.equal(r.status, 302);
  assert.equal(r.location, '/examples/web/');
  assert.equal((await get('/examples/web/', 'POST')).status, 405);
  assert.equal((await get('/examples/web/', 'HEAD')).status, 200);
});
