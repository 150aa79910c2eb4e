/** What the output stream can show: colors and width. Tests and library callers get plain text. */
export interface Terminal {
  /** Emit ANSI colors. */
  readonly color: boolean;
  /** Width in columns when the stream is a terminal; undefined for pipes and files. */
  readonly columns: number | undefined;
  /** Print progress lines (to stderr) during long searches: when stderr is a terminal. */
  readonly progress?: boolean;
  /** stderr is no terminal (CI logs, pipes): `check` prints a plain progress line every few seconds. */
  readonly progressLog?: boolean;
  /** Write raw text to stderr (no newline added): what an in-place progress line needs. */
  readonly writeErr?: (s: string) => void;
}

/** Plain output: no colors, no terminal width (pipes, files, tests). */
export const PLAIN: Terminal = { color: false, columns: undefined };

/**
 * Decide colors the way NO_COLOR (no-color.org) and FORCE_COLOR expect: NO_COLOR set to
 * anything non-empty turns colors off; otherwise FORCE_COLOR (not '0') turns them on;
 * otherwise colors follow whether the stream is a terminal. Unlike picocolors' own
 * detection, a CI environment variable alone does not turn colors on.
 */
export function detectTerminal(env: NodeJS.ProcessEnv, stream: { isTTY?: boolean; columns?: number }, errStream?: { isTTY?: boolean }): Terminal {
  const tty = stream.isTTY === true;
  const progress = errStream?.isTTY === true;
  const progressLog = errStream !== undefined && !progress;
  let color = tty;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') color = true;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') color = false;
  return { color, columns: tty ? stream.columns : undefined, progress, progressLog };
}
