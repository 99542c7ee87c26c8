// The browser entry point of the wasmad package: fetch the core wasm files of
// the jco output, then import the package itself (bindings/js/src/index.js,
// unchanged; index.html's import map sends its `node:fs` import to
// node-fs-shim.js). The file list comes from the jco glue itself, so it
// follows whatever jco names its core modules.
import { preload } from 'node:fs';

/** @returns {Promise<typeof import('../../bindings/js/src/index.js')>} */
export async function loadWasmad() {
  const gen = new URL('../gen/', import.meta.resolve('wasmad'));
  const glue = new URL('detector.js', gen);
  const res = await fetch(glue);
  if (!res.ok) {
    throw new Error(
      `fetch ${glue.href}: HTTP ${res.status}; transpile the component first ` +
        '(bash examples/web/start.sh, or npm run build in bindings/js)',
    );
  }
  const names = [...new Set(Array.from((await res.text()).matchAll(/getCoreModule\('([^']+\.wasm)'\)/g), (m) => m[1]))];
  if (names.length === 0) throw new Error(`${glue.href} names no core wasm modules: is it jco output?`);
  await preload(names.map((name) => new URL(name, gen)));
  return import('wasmad');
}
