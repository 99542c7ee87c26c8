// Where scripts/test-bindings.sh writes the component, with the same default
// build directory as scripts/env.sh.
import { accessSync, constants, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export function defaultComponentPath() {
  let target = process.env.CARGO_TARGET_DIR;
  if (!target) {
    try {
      accessSync('/work/target', constants.W_OK);
      if (statSync('/work/target').isDirectory()) target = '/work/target';
    } catch {
      // not this machine's layout
    }
  }
  if (!target) {
    target = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'wasmad', 'target');
  }
  return join(target, 'bindings', 'wasmad_detector.wasm');
}
