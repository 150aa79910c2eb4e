/** Running a synchronous vfio-sim command in tests, capturing what it prints. */
import { main } from '../../src/cli/main.js';

/** `vfio-sim ARGS` in-process: its exit code and its stdout/stderr lines (each ending in a newline). */
export function runCli(args: string[]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = main(args, (s) => (out += s + '\n'), (s) => (err += s + '\n'));
  if (typeof code !== 'number') throw new Error('a synchronous command returned a promise');
  return { code, out, err };
}
