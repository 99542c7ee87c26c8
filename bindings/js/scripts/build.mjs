// Transpiles the detector component into gen/ with jco: core wasm modules plus
// the JS glue that lifts and lowers the canonical ABI.
//
//   node scripts/build.mjs [component.wasm]
//
// The component is the argument, else $WASMAD_COMPONENT, else the file that
// scripts/test-bindings.sh writes ($CARGO_TARGET_DIR/bindings/wasmad_detector.wasm).
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { defaultComponentPath } from './component-path.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const component = process.argv[2] || process.env.WASMAD_COMPONENT || defaultComponentPath();
if (!existsSync(component)) {
  console.error(
    `build: no component at ${component}; run scripts/test-bindings.sh, or pass a file ` +
      'written by `wasmad export-component PATH` (argument or WASMAD_COMPONENT)',
  );
  process.exit(1);
}
const out = join(root, 'gen');
rmSync(out, { recursive: true, force: true });
const jco = join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'jco.cmd' : 'jco');
execFileSync(
  jco,
  ['transpile', component, '--name', 'detector', '--instantiation', 'sync', '--out-dir', out, '--quiet'],
  { stdio: 'inherit' },
);
console.log(`build: transpiled ${component} into ${out}`);
