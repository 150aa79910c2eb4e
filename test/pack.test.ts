/**
 * The package as a user gets it: `npm pack`, installed from the tarball into an empty
 * folder (from the npm cache only, no network), then its command and its library used from
 * there. The build has already run (npm test builds first), so the pack skips `prepack`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface PackageJson {
  readonly version: string;
  readonly bin: Record<string, string>;
  readonly dependencies: Record<string, string>;
  readonly engines: Record<string, string>;
  readonly scripts: Record<string, string>;
}
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;

/** npm's environment without what `npm test` passes down to its children (but the cache). */
function npmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.toLowerCase().startsWith('npm_') || k.toLowerCase() === 'npm_config_cache') env[k] = v;
  return { ...env, NO_COLOR: '1', npm_config_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
}

function sh(cmd: string, args: readonly string[], cwd: string): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env: npmEnv(), encoding: 'utf8', timeout: 120_000 });
  if (r.error !== undefined) throw r.error;
  return r;
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what} exited ${String(r.status)}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The README's library example (the ts block of its "## Library" section). */
function readmeLibraryExample(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const m = /^## Library\n[^]*?```ts\n([^]*?)```/m.exec(readme);
  assert.ok(m !== null, 'the README has a ts example under "## Library"');
  return m[1] ?? '';
}

test('the packed package installs from the npm cache into an empty folder and its command and library work from there', (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'vfio-sim-pack-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));

  // npm pack from an unbuilt clone must build dist/ first
  assert.match(PKG.scripts.prepack ?? '', /\b(npm run build|tsc)\b/, 'package.json has a prepack script that builds dist/');

  const packed = JSON.parse(ok(sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], ROOT), 'npm pack')) as { filename: string; files: { path: string }[] }[];
  const info = packed[0];
  assert.ok(info !== undefined);
  const files = new Set(info.files.map((f) => f.path));
  for (const bin of Object.values(PKG.bin)) assert.ok(files.has(bin), `the bin entry ${bin} is packed`);
  for (const f of ['native/preload.c', 'native/build.mjs']) assert.ok(files.has(f), `${f} (the exec shim's source and its build) is packed`);
  assert.ok(![...files].some((f) => f.endsWith('.so')), 'no built shim is packed: the install builds it');
  assert.deepEqual([...files].filter((f) => /^dist\/(test|bench)\//.test(f)), [], 'no test or bench output is packed');
  // the web UI ships prebuilt (vfio-sim ui serves it; a user needs no build step)
  assert.ok(files.has('dist/web/index.html'), 'the prebuilt web UI is packed');
  assert.ok([...files].some((f) => /^dist\/web\/assets\/.+\.js$/.test(f)), "the web UI's script is packed");
  // every source map points at a TypeScript source that is packed with it
  const maps = [...files].filter((f) => f.endsWith('.js.map'));
  assert.ok(maps.length > 0);
  const missing = maps.filter((m) => !files.has(m.replace(/^dist\//, '').replace(/\.js\.map$/, '.ts')));
  assert.deepEqual(missing, [], 'the sources of these maps are not packed');

  // install it as `npm ci` would: from a lock that pins the dependencies the repo locked, from the cache only
  const tarball = join(tmp, info.filename);
  const app = join(tmp, 'app');
  mkdirSync(app);
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
  const spec = `file:${tarball}`;
  const packages: Record<string, unknown> = {
    '': { name: 'app', dependencies: { 'vfio-sim': spec } },
    'node_modules/vfio-sim': {
      version: PKG.version,
      resolved: spec,
      integrity: `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`,
      dependencies: PKG.dependencies,
      bin: PKG.bin,
      engines: PKG.engines,
      // as npm records a package with a postinstall (the exec shim's build): npm ci runs it only then
      hasInstallScript: true,
    },
  };
  // the repo's locked runtime dependencies (not its dev ones), hoisted the same way
  for (const [k, v] of Object.entries(lock.packages)) if (k.startsWith('node_modules/') && (v as { dev?: boolean }).dev !== true) packages[k] = v;
  for (const d of Object.keys(PKG.dependencies)) assert.ok(packages[`node_modules/${d}`] !== undefined, `${d} is in the lock`);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { 'vfio-sim': spec } }));
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify({ name: 'app', lockfileVersion: 3, requires: true, packages }));
  ok(sh('npm', ['ci', '--offline', '--no-audit', '--no-fund'], app), 'npm ci --offline');
  // the install built the exec shim with the system C compiler (postinstall; .ci/run installs gcc)
  assert.ok(existsSync(join(app, 'node_modules', 'vfio-sim', 'native', 'libvfio-sim-preload.so')), 'npm install built native/libvfio-sim-preload.so (is a C compiler, cc, installed?)');

  // the command, through npm's bin link (a symlink: argv[1] is node_modules/.bin/vfio-sim)
  const bin = join(app, 'node_modules', '.bin', 'vfio-sim');
  assert.equal(ok(sh(bin, ['--version'], app), 'vfio-sim --version').trim(), PKG.version);
  const demo = ok(sh(bin, ['demo'], app), 'vfio-sim demo');
  assert.match(demo, /== Boot: Linux 5\.8 model/);
  assert.match(demo, /SIGBUS \(BUS_ADRERR\)/);
  const npx = ok(sh('npx', ['--offline', 'vfio-sim', 'demo'], app), 'npx vfio-sim demo');
  assert.equal(npx, demo, 'npx vfio-sim demo prints the same demo');

  // the README's library example, run from the installed package
  const example = readmeLibraryExample();
  writeFileSync(join(app, 'example.mjs'), `${example}\nconsole.log('platformErrors', sys.platformErrors);\n`);
  assert.match(ok(sh(process.execPath, ['example.mjs'], app), 'the README library example'), /^platformErrors 0$/m);

  // and compiled by a strict TypeScript consumer without Node's types
  writeFileSync(join(app, 'example.ts'), example);
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022'], types: [], noEmit: true, skipLibCheck: false },
    files: ['example.ts'],
  }));
  const tsc = sh(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.', '--pretty', 'false'], app);
  assert.ok(tsc.status === 0 || /error TS/.test(tsc.stdout), `tsc did not run: ${tsc.stderr}`);
  // zod's own declarations name the URL global (DOM or Node); the errors must not be ours
  const ours = tsc.stdout.split('\n').filter((l) => /error TS/.test(l) && !l.startsWith('node_modules/zod/'));
  assert.deepEqual(ours, [], 'the package\'s declarations compile without @types/node');
});
