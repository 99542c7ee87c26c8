// The static server: it serves the page, the bindings' sources and the jco
// output, with the right types, and nothing else of the repository.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';

import { startServer } from '../serve.mjs';

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
];
for (const path of refused) {
  test(`refuses ${path}`, async () => {
    const r = await get(path);
    assert.equal(r.status, 404);
    assert.match(r.body, /^not found: /);
  });
}

test('redirects / to the page; refuses methods other than GET and HEAD', async () => {
  const r = await get('/');
  assert.equal(r.status, 302);
  assert.equal(r.location, '/examples/web/');
  assert.equal((await get('/examples/web/', 'POST')).status, 405);
  assert.equal((await get('/examples/web/', 'HEAD')).status, 200);
});
