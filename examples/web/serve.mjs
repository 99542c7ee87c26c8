// A tiny static server for the browser example: node's http module, bound to
// 127.0.0.1 on a free port (or --port N / $PORT), serving the page
// (examples/web/) and the JS bindings it imports (bindings/js/src, and the
// jco output in bindings/js/gen) from the repository; for the vector replay
// page (vectors.html) also the shared parity vectors (tests/vectors/NAME.json,
// and their list as JSON at /tests/vectors/) and the replay module the Node
// tests share (bindings/js/test/replay.mjs); and nothing else.
//
//   node examples/web/serve.mjs [--port N]     # prints the page's URL
//
// The bindings must have been transpiled first (bash examples/web/start.sh
// does it, as does scripts/test-bindings.sh).
import { createServer } from 'node:http';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const PAGE_PATH = '/examples/web/';

/** URL path prefixes served, each a directory of the repository. */
const SERVED = ['/examples/web/', '/bindings/js/src/', '/bindings/js/gen/'];
const NOT_SERVED = ['/examples/web/node_modules/', '/examples/web/test/'];
/** Single files served besides SERVED's directories. */
const SERVED_FILES = ['/bindings/js/test/replay.mjs'];
/** The parity vectors: only NAME.json directly in tests/vectors (no other
 * file, no subdirectory); GET VECTORS_PATH lists their file names as JSON. */
export const VECTORS_PATH = '/tests/vectors/';
const VECTOR_FILE = /^\/tests\/vectors\/[A-Za-z0-9_-]+\.json$/;

/** The file names of the parity vectors (tests/vectors/*.json), sorted. */
export async function vectorFiles() {
  const names = await readdir(join(ROOT, 'tests', 'vectors'));
  return names.filter((n) => VECTOR_FILE.test(VECTORS_PATH + n)).sort();
}

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.md': 'text/markdown; charset=utf-8',
};

/** Throws with what to do when the bindings have not been transpiled. */
export function checkBindingsBuilt() {
  const gen = join(ROOT, 'bindings', 'js', 'gen', 'detector.js');
  if (!existsSync(gen)) {
    throw new Error(
      `serve: ${gen} is missing: the component has not been transpiled. Run ` +
        '`bash examples/web/start.sh` (builds and exports the component, transpiles it, serves), ' +
        'or `cd bindings/js && npm ci && WASMAD_COMPONENT=path/to/wasmad_detector.wasm npm run build`',
    );
  }
}

async function handle(req, res) {
  const send = (status, body, headers = {}) => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return send(405, `${req.method} is not supported; GET or HEAD\n`, { allow: 'GET, HEAD' });
  }
  let path;
  try {
    path = decodeURIComponent(new URL(req.url, 'http://127.0.0.1').pathname);
  } catch {
    return send(400, 'bad URL\n');
  }
  if (path === '/' || path === '/examples/web') {
    return send(302, `see ${PAGE_PATH}\n`, { location: PAGE_PATH });
  }
  if (path === VECTORS_PATH) {
    return send(200, JSON.stringify(await vectorFiles()) + '\n', { 'content-type': TYPES['.json'], 'cache-control': 'no-cache' });
  }
  if (path.endsWith('/')) path += 'index.html';
  const file = resolve(ROOT, '.' + path);
  const allowed =
    file.startsWith(ROOT + sep) &&
    !path.split('/').includes('..') &&
    ((SERVED.some((p) => path.startsWith(p)) && !NOT_SERVED.some((p) => path.startsWith(p))) ||
      SERVED_FILES.includes(path) ||
      VECTOR_FILE.test(path));
  if (!allowed) {
    const what = [...SERVED, ...SERVED_FILES, `${VECTORS_PATH}*.json`].join(', ');
    return send(404, `not found: ${path} (this server serves ${what})\n`);
  }
  let body;
  try {
    if (!(await stat(file)).isFile()) return send(404, `not found: ${path}\n`);
    body = await readFile(file);
  } catch {
    return send(404, `not found: ${path}\n`);
  }
  res.writeHead(200, {
    'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
    'content-length': body.length,
    'cache-control': 'no-cache',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * Start the server on 127.0.0.1.
 * @param {{ port?: number }} [options] 0 (the default) picks a free port
 * @returns {Promise<{ server: import('node:http').Server, url: string, close: () => Promise<void> }>}
 */
export async function startServer({ port = 0 } = {}) {
  const server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`internal error: ${e.message}\n`);
    });
  });
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', ok);
  });
  const url = `http://127.0.0.1:${server.address().port}${PAGE_PATH}`;
  const close = () =>
    new Promise((ok) => {
      server.close(() => ok());
      server.closeAllConnections();
    });
  return { server, url, close };
}

function parsePort(argv) {
  const i = argv.indexOf('--port');
  const raw = i >= 0 ? argv[i + 1] : process.env.PORT;
  if (raw === undefined || raw === '') return 0;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`serve: port must be an integer in 0 .. 65535 (0 picks a free one), got '${raw}'`);
  }
  return port;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    checkBindingsBuilt();
    const { url } = await startServer({ port: parsePort(process.argv.slice(2)) });
    console.log(`wasmad browser example: ${url}   (Ctrl-C stops)`);
    console.log(`  e.g. ${url}?seed=7&algorithm=zscore`);
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
