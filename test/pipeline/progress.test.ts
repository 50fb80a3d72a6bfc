import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { ProgressReporter } from "../../src/pipeline/index.ts";

function sink(tty: boolean) {
  const chunks: string[] = [];
  const stream = new Writable({
    write(c, _e, cb) {
      chunks.push(String(c));
      cb();
    },
  }) as Writable & { isTTY?: boolean; columns?: number };
  stream.isTTY = tty;
  stream.columns = 100;
  return { stream, text: () => chunks.join("") };
}

const state = (rowsRead: number, bytesRead = 0) => ({
  rowsRead,
  rowsScored: rowsRead - 1,
  rowsRejected: 1,
  bytesRead,
  partsWritten: 2,
});

test("not a TTY: periodic JSON progress lines and a JSON summary", () => {
  const s = sink(false);
  const p = new ProgressReporter({ totalRows: 1000, totalBytes: 0, stream: s.stream, intervalMs: 0 });
  p.update(state(250));
  p.update(state(500));
  p.finish({ output: "out.parquet", rowsScored: 999, rowsRejected: 1, seconds: 1.5 });
  const lines = s
    .text()
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(lines.length, 3);
  assert.equal(lines[0].event, "progress");
  assert.equal(lines[1].fraction, 0.5);
  assert.equal(lines[1].rowsRejected, 1);
  assert.equal(typeof lines[1].rowsPerSecond, "number");
  assert.deepEqual(lines[2], {
    event: "summary",
    output: "out.parquet",
    rowsScored: 999,
    rowsRejected: 1,
    seconds: 1.5,
  });
});

test("TTY: a redrawn bar with percent, rows/s and ETA from bytes when rows are unknown; updates are throttled", () => {
  const s = sink(true);
  const p = new ProgressReporter({ totalRows: null, totalBytes: 4000, stream: s.stream, intervalMs: 60_000 });
  p.update(state(100, 1000), true);
  p.update(state(200, 2000)); // throttled
  const text = s.text();
  assert.equal(text.split("\r").length - 1, 1);
  assert.match(text, /\r\[#{7}\.{21}\] 25\.0% 100 rows +[\d.]+[kMG]? rows\/s +ETA \S+ +rejected 1/);
  p.finish({ output: "o.csv", rowsScored: 199, rowsRejected: 1, seconds: 2 });
  assert.match(s.text(), /\nscored 199 rows \(1 rejected\) in 2\.0 s → o\.csv\n$/);
});
