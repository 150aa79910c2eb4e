/**
 * A long command's progress on stderr, timed by the CLI's own clock (never the model's):
 * on a terminal one line rewritten in place; elsewhere (CI logs, pipes) a plain line at
 * most every `logEveryMs`; off (tests, --json) nothing.
 */

/** Where progress goes: 'tty' rewrites one line, 'log' appends a line now and then. */
export type ProgressMode = 'tty' | 'log' | 'off';

/** The interval between plain progress lines off a terminal. */
export const LOG_EVERY_MS = 5000;

export class Progress {
  private readonly start: number;
  private lastLog: number;
  private shown = false;

  /**
   * `write` writes raw text (no newline added) to stderr; `now` is a wall clock in ms;
   * `columns` the terminal's width (the line is cut to fit, so that it never wraps).
   */
  constructor(
    private readonly mode: ProgressMode,
    private readonly write: (s: string) => void,
    private readonly now: () => number,
    private readonly columns: number | undefined = undefined,
    private readonly logEveryMs = LOG_EVERY_MS,
  ) {
    this.start = now();
    this.lastLog = this.start;
  }

  /** Milliseconds since the progress began. */
  elapsedMs(): number {
    return this.now() - this.start;
  }

  /** Seconds since the start, as `1.2 s`. */
  elapsed(): string {
    return `${(this.elapsedMs() / 1000).toFixed(1)} s`;
  }

  /**
   * The current state (`text` without the time; the elapsed time is appended): rewritten in
   * place on a terminal; off a terminal, printed when `logEveryMs` passed since the last
   * line, or at once when `force`.
   */
  update(text: string, force = false): void {
    if (this.mode === 'off') return;
    const line = `${text}, ${this.elapsed()}`;
    if (this.mode === 'tty') {
      const max = this.columns !== undefined ? Math.max(20, this.columns - 1) : Infinity;
      this.write(`\r\x1b[2K${line.length > max ? `${line.slice(0, max - 1)}…` : line}`);
      this.shown = true;
      return;
    }
    const t = this.now();
    if (!force && t - this.lastLog < this.logEveryMs) return;
    this.lastLog = t;
    this.write(`${line}\n`);
  }

  /** Clear the in-place line (before other output, or at the end); nothing off a terminal. */
  clear(): void {
    if (this.mode === 'tty' && this.shown) this.write('\r\x1b[2K');
    this.shown = false;
  }

  /** End: clear the in-place line and print `text` (the timing line) on a line of its own. */
  finish(text: string): void {
    if (this.mode === 'off') return;
    this.clear();
    this.write(`${text}\n`);
  }
}
