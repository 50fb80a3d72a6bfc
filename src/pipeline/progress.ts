/**
 * Progress reporting: on a TTY a one-line bar with rows/s and ETA, otherwise one JSON object per
 * `intervalMs` on the stream (stderr by default). The total is rows (Parquet metadata) when every input
 * knows it, else bytes.
 */

export interface ProgressState {
  readonly rowsRead: number;
  readonly rowsScored: number;
  readonly rowsRejected: number;
  /** Bytes of input consumed (all files so far). */
  readonly bytesRead: number;
  readonly partsWritten: number;
}

export interface ProgressOptions {
  readonly totalRows: number | null;
  readonly totalBytes: number;
  /** Where to write; default process.stderr. */
  readonly stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Force TTY/JSON mode; default: the stream's isTTY. */
  readonly tty?: boolean;
  /** Minimum ms between updates. Default 200 on a TTY, 5000 for JSON lines. */
  readonly intervalMs?: number;
}

function fmtCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}

function fmtSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  return `${s.toFixed(0)}s`;
}

export class ProgressReporter {
  private readonly stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  private readonly tty: boolean;
  private readonly intervalMs: number;
  private readonly start = performance.now();
  private last = 0;
  private startRows = 0;
  private startBytes = 0;

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
    this.tty = options.tty ?? this.stream.isTTY === true;
    this.intervalMs = options.intervalMs ?? (this.tty ? 200 : 5000);
  }

  /** Rows already done before this run (resume): excluded from the rate. */
  setBaseline(rows: number, bytes: number): void {
    this.startRows = rows;
    this.startBytes = bytes;
  }

  /** Fraction done in [0, 1], or null when unknown. */
  fraction(s: ProgressState): number | null {
    if (this.options.totalRows !== null && this.options.totalRows > 0)
      return Math.min(1, s.rowsRead / this.options.totalRows);
    if (this.options.totalBytes > 0) return Math.min(1, s.bytesRead / this.options.totalBytes);
    return null;
  }

  update(s: ProgressState, force = false): void {
    const now = performance.now();
    if (!force && now - this.last < this.intervalMs) return;
    this.last = now;
    const elapsed = (now - this.start) / 1000;
    const rate = elapsed > 0 ? (s.rowsRead - this.startRows) / elapsed : 0;
    const f = this.fraction(s);
    let eta = Number.NaN;
    if (this.options.totalRows !== null && rate > 0) eta = (this.options.totalRows - s.rowsRead) / rate;
    else if (this.options.totalBytes > 0 && s.bytesRead > this.startBytes && elapsed > 0) {
      eta = (this.options.totalBytes - s.bytesRead) / ((s.bytesRead - this.startBytes) / elapsed);
    }
    if (this.tty) {
      const width = 28;
      const filled = f === null ? 0 : Math.round(f * width);
      const bar =
        f === null ? "" : `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${(f * 100).toFixed(1)}% `;
      const line = `${bar}${fmtCount(s.rowsRead)} rows  ${fmtCount(rate)} rows/s  ETA ${f === null ? "?" : fmtSeconds(eta)}  rejected ${s.rowsRejected}`;
      this.stream.write(`\r${line.padEnd(Math.min(this.stream.columns ?? 100, 120) - 1)}`);
    } else {
      this.stream.write(
        `${JSON.stringify({
          event: "progress",
          rowsRead: s.rowsRead,
          rowsScored: s.rowsScored,
          rowsRejected: s.rowsRejected,
          bytesRead: s.bytesRead,
          parts: s.partsWritten,
          fraction: f === null ? null : Number(f.toFixed(4)),
          rowsPerSecond: Math.round(rate),
          etaSeconds: Number.isFinite(eta) ? Math.round(eta) : null,
        })}\n`,
      );
    }
  }

  /** Final line: a newline after the bar on a TTY, then the summary (text on a TTY, JSON otherwise). */
  finish(summary: Record<string, unknown>): void {
    if (this.tty) {
      this.stream.write("\n");
      this.stream.write(
        `scored ${summary.rowsScored} rows (${summary.rowsRejected} rejected) in ${Number(summary.seconds).toFixed(1)} s → ${summary.output}\n`,
      );
    } else {
      this.stream.write(`${JSON.stringify({ event: "summary", ...summary })}\n`);
    }
  }
}
