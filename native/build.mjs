#!/usr/bin/env node
// Builds native/libvfio-sim-preload.so (the LD_PRELOAD shim of `vfio-sim exec`) with the
// system C compiler. Run at install (postinstall) and by `npm run build:native`. Without a
// C compiler it says so and succeeds: everything else works, and `vfio-sim exec` names
// what is missing.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const cc = process.env.CC || 'cc';
const out = join(here, 'libvfio-sim-preload.so');
const args = ['-O2', '-g', '-Wall', '-Wextra', '-fPIC', '-shared', '-o', out, join(here, 'preload.c'), '-ldl', '-lpthread'];
if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.log(`vfio-sim: not building the exec shim (it is for x86-64 Linux; this is ${process.platform}/${process.arch})`);
  process.exit(0);
}
const r = spawnSync(cc, args, { stdio: 'inherit' });
if (r.error !== undefined) {
  console.log(`vfio-sim: no C compiler ('${cc}': ${r.error.code ?? r.error.message}); 'vfio-sim exec' needs one to build its shim (install gcc, then npm run build:native)`);
  process.exit(0);
}
if (r.status !== 0) {
  console.log(`vfio-sim: building the exec shim failed (${cc} exited with ${r.status}); 'vfio-sim exec' will say so`);
  process.exit(process.env.VFIO_SIM_NATIVE_STRICT ? 1 : 0);
}
