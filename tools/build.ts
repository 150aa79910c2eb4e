/**
 * The build: type-check the project as `tsc -p tsconfig.json` does, then emit it with the
 * generator lowering (tools/lower/lower.ts) applied to every Task generator, and emit the
 * plain (unlowered) form of src/ (and of the property-test harness, test/property/) into
 * dist/plain/ for the differential tests (test/lower/). docs/ARCHITECTURE.md, "The lowering".
 *
 * Usage: node dist/tools/build.js [--no-plain]. Exit 1 with tsc's diagnostics on a type
 * error, with `file:line:col: cannot lower ...` on a construct the lowering refuses.
 */
import ts from 'typescript';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LowerError, lowerTransformer, type LowerStats } from './lower/lower.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function main(argv: readonly string[]): number {
  const plain = !argv.includes('--no-plain');
  const host: ts.FormatDiagnosticsHost = {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => root,
    getNewLine: () => '\n',
  };
  const report = (ds: readonly ts.Diagnostic[]): void => {
    const pretty = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
    process.stdout.write(pretty ? ts.formatDiagnosticsWithColorAndContext(ds, host) : ts.formatDiagnostics(ds, host));
  };
  const cfg = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => report([d]) });
  if (cfg === undefined) return 1;
  if (cfg.errors.length > 0) {
    report(cfg.errors);
    return 1;
  }
  const program = ts.createProgram({ rootNames: cfg.fileNames, options: cfg.options, projectReferences: cfg.projectReferences });
  const diags = ts.getPreEmitDiagnostics(program);
  if (diags.length > 0) {
    report(diags);
    return 1;
  }
  const frameModule = join(root, 'src', 'kernel', 'sched', 'frame.ts').split(sep).join('/');
  const srcDir = join(root, 'src').split(sep).join('/') + '/';
  const testDir = join(root, 'test').split(sep).join('/') + '/';
  const benchDir = join(root, 'bench').split(sep).join('/') + '/';
  const lowered = (f: string): boolean => f.startsWith(srcDir) || f.startsWith(testDir) || f.startsWith(benchDir);
  const strict = (f: string): boolean => f.startsWith(srcDir);
  const stats: LowerStats = { generators: 0, files: 0 };
  const errors: LowerError[] = [];
  try {
    const r = program.emit(undefined, undefined, undefined, false, { before: [lowerTransformer(program, { frameModule, include: lowered, errors, strict }, stats)] });
    if (r.diagnostics.length > 0) {
      report(r.diagnostics);
      return 1;
    }
    if (errors.length > 0) {
      for (const e of errors) process.stdout.write(`${relative(root, e.file)}:${e.line}:${e.col}: cannot lower this Task generator: ${e.why}\n`);
      return 1;
    }
    if (plain) {
      // The plain form of src/: the same emit without the lowering, under dist/plain/.
      const outDir = cfg.options.outDir ?? join(root, 'dist');
      const plainDir = join(outDir, 'plain');
      const write: ts.WriteFileCallback = (name, text) => {
        if (!name.endsWith('.js')) return;
        const rel = relative(outDir, name);
        const to = join(plainDir, rel);
        mkdirSync(dirname(to), { recursive: true });
        writeFileSync(to, text.replace(/\n\/\/# sourceMappingURL=.*$/, ''));
      };
      const propertyDir = join(root, 'test', 'property').split(sep).join('/') + '/';
      for (const sf of program.getSourceFiles()) {
        if (!sf.fileName.startsWith(srcDir) && !sf.fileName.startsWith(propertyDir)) continue;
        program.emit(sf, write);
      }
    }
  } catch (e) {
    if (e instanceof LowerError) {
      process.stdout.write(`${relative(root, e.file)}:${e.line}:${e.col}: cannot lower this Task generator: ${e.why}\n`);
      return 1;
    }
    throw e;
  }
  if (argv.includes('--stats')) process.stdout.write(`lowered ${stats.generators} Task generators in ${stats.files} files\n`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
