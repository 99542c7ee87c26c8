// `node:fs` for the browser, as far as the wasmad package uses it: the package
// (bindings/js/src/index.js) compiles its core wasm files with
// `new WebAssembly.Module(readFileSync(url))`. index.html maps `node:fs` here
// with an import map; wasmad-browser.js fetches those files before the first
// detector is made, and readFileSync hands back the fetched bytes.

const files = new Map();

function keyOf(path) {
  return (path instanceof URL ? path : new URL(String(path), globalThis.location?.href)).href;
}

/** Fetch `urls` so that readFileSync can return them. */
export async function preload(urls) {
  await Promise.all(
    urls.map(async (url) => {
      const key = keyOf(url);
      if (files.has(key)) return;
      const res = await fetch(key);
      if (!res.ok) throw new Error(`fetch ${key}: HTTP ${res.status} ${res.statusText}`);
      files.set(key, new Uint8Array(await res.arrayBuffer()));
    }),
  );
}

export function readFileSync(path) {
  const key = keyOf(path);
  const bytes = files.get(key);
  if (bytes === undefined) {
    throw new Error(`readFileSync(${key}): not preloaded (the browser shim of node:fs only returns files fetched by preload())`);
  }
  return bytes;
}

export default { readFileSync };
