/**
 * Progress of an epoch: on a terminal, one bar redrawn in place with ETA,
 * loss and images per second; otherwise nothing until the epoch's summary
 * line (logs stay readable). This is the one printer outside lib/cli/: it
 * draws only when asked (`tty`), and its summary lines go to the caller's
 * `log`.
 *
 * @module
 */

/** Formats seconds as m:ss or h:mm:ss. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** An epoch's progress display. */
export class Progress {
  readonly #tty: boolean;
  readonly #label: string;
  readonly #total: number;
  #lastDraw = 0;
  readonly #encoder = new TextEncoder();
  readonly #log: (line: string) => void;

  /**
   * A display for `total` steps: with `tty`, a bar redrawn in place on
   * stdout; summaries go to `log`.
   */
  constructor(label: string, total: number, tty: boolean, log: (line: string) => void) {
    this.#label = label;
    this.#total = total;
    this.#tty = tty;
    this.#log = log;
  }

  /** Redraws the bar (at most ten times a second). */
  update(done: number, loss: number, imagesPerSecond: number, secondsPerStep: number): void {
    if (!this.#tty) return;
    const now = performance.now();
    if (now - this.#lastDraw < 100 && done < this.#total) return;
    this.#lastDraw = now;
    const width = 24;
    const filled = Math.round((width * done) / Math.max(1, this.#total));
    const bar = "#".repeat(filled) + ".".repeat(width - filled);
    const eta = formatDuration((this.#total - done) * secondsPerStep);
    const line = `${this.#label} [${bar}] ${done}/${this.#total} loss ${loss.toFixed(4)} ` +
      `${imagesPerSecond.toFixed(0)} img/s eta ${eta}`;
    Deno.stdout.writeSync(this.#encoder.encode(`\r\x1b[2K${line}`));
  }

  /** Clears the bar and prints `summary` on its own line. */
  done(summary: string): void {
    if (this.#tty) Deno.stdout.writeSync(this.#encoder.encode("\r\x1b[2K"));
    this.#log(summary);
  }
}
