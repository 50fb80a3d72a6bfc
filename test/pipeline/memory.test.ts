/**
 * Bounded memory: peak RSS (process.resourceUsage().maxRSS of a child process, worker threads included)
 * scoring a 1M-row Parquet file (row groups of 64k rows, or one 1M-row group) stays within 30% (+24 MB; run-to-run noise of the worker heaps) of
 * scoring 250k rows, and under a fixed bound.
 *
 * The children run with --max-old-space-size=128: without a cap V8 lets the heap of garbage grow with the
 * allocation rate (a longer run shows a higher peak of uncollected garbage, not live data). The cap only
 * catches rows kept alive as JS objects; typed-array columns live outside the V8 heap, so rows kept as
 * decoded columns are caught by the RSS bound alone. Measured once on a 2-core box: 250k rows 272 MB, 1M rows
 * 323 MB, 1M rows with the whole decoded input held (~70 MB) 396 MB, over the 378 MB bound: a full leak of
 * the input fails, a leak of the outputs only (16 MB) would not.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, test } from "node:test";
import { tmpDir, writeFeatureParquet } from "./helpers.ts";

const dir = tmpDir();
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const F = 16;

/** Scores `input` (`features` wide) into `output` in a child process under a 128 MB heap, 8192-row batches. */
function runChild(input: string, output: string, features: number) {
  return spawnSync(
    process.execPath,
    [
      "--max-old-space-size=128",
      "--import",
      "tsx",
      "test/pipeline/rss-child.ts",
      input,
      output,
      String(features),
      "8192",
    ],
    { encoding: "utf8" },
  );
}

/** The child's report: the last line it printed. */
function childReport(r: ReturnType<typeof runChild>): { maxRssMB: number; rows: number; seconds: number } {
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

function score(input: string, output: string): { maxRssMB: number; rows: number; seconds: number } {
  const r = runChild(input, output, F);
  assert.equal(r.status, 0, r.stderr);
  return childReport(r);
}

test("peak RSS scoring 1M rows does not grow with the row count", { timeout: 120_000 }, async () => {
  const small = path.join(dir, "small.parquet");
  const large = path.join(dir, "large.parquet");
  await writeFeatureParquet(small, 250_000, F);
  await writeFeatureParquet(large, 1_000_000, F);
  const a = score(small, path.join(dir, "small-out.parquet"));
  const b = score(large, path.join(dir, "large-out.parquet"));
  assert.equal(a.rows, 250_000);
  assert.equal(b.rows, 1_000_000);
  // the 1M-row input holds 64 MB of float32 features (decoded); peak memory must not follow it
  const fileMB = fs.statSync(large).size / 2 ** 20;
  assert.ok(
    b.maxRssMB <= a.maxRssMB * 1.3 + 24,
    `1M rows peaked at ${b.maxRssMB} MB vs ${a.maxRssMB} MB for 250k rows (input ${fileMB.toFixed(0)} MB)`,
  );
  assert.ok(b.maxRssMB < 450, `peak RSS ${b.maxRssMB} MB`);
  // one row group of 1M rows (as Polars or pyarrow may write): read in windows, so the same bound holds
  const oneGroup = path.join(dir, "one-group.parquet");
  await writeFeatureParquet(oneGroup, 1_000_000, F, 1_000_000);
  const c = score(oneGroup, path.join(dir, "one-group-out.parquet"));
  assert.equal(c.rows, 1_000_000);
  assert.ok(
    c.maxRssMB <= a.maxRssMB * 1.3 + 24,
    `one 1M-row group peaked at ${c.maxRssMB} MB vs ${a.maxRssMB} MB`,
  );
});

test("a list (vector) column in one big row group is read in windows too: peak RSS does not follow the group", {
  timeout: 120_000,
}, async () => {
  const { openSink } = await import("../../src/pipeline/index.ts");
  const D = 32;
  const write = async (file: string, rows: number) => {
    const sink = await openSink(
      file,
      "parquet",
      [
        { name: "id", kind: "int64" },
        { name: "emb", kind: "vector", size: D },
      ],
      { rowGroupRows: rows },
    );
    for (let start = 0; start < rows; start += 65536) {
      const n = Math.min(65536, rows - start);
      const values = new Float32Array(n * D);
      for (let i = 0; i < values.length; i++) values[i] = Math.sin(start * D + i);
      await sink.write({
        numRows: n,
        columns: new Map([
          [
            "id",
            {
              kind: "int64",
              length: n,
              valid: null,
              values: new BigInt64Array(n).map((_, i) => BigInt(start + i)),
            },
          ],
          ["emb", { kind: "vector", size: D, length: n, valid: null, values }],
        ]),
      });
    }
    await sink.close();
  };
  const small = path.join(dir, "list-small.parquet");
  const large = path.join(dir, "list-large.parquet");
  await write(small, 100_000);
  await write(large, 400_000);
  const run = (input: string) => runChild(input, `${input}.out.parquet`, D);
  const ra = run(small);
  const rb = run(large);
  assert.equal(rb.status, 0, `400k rows of ${D}-float lists in one row group: ${rb.stderr.slice(-400)}`);
  assert.equal(ra.status, 0, ra.stderr);
  const a = childReport(ra);
  const b = childReport(rb);
  assert.deepEqual([a.rows, b.rows], [100_000, 400_000]);
  assert.ok(
    b.maxRssMB <= a.maxRssMB * 1.3 + 24,
    `400k-row group peaked at ${b.maxRssMB} MB vs ${a.maxRssMB} MB`,
  );
});

test("a gzip CSV is decompressed as a stream: reading 150 MB of text peaks like reading 15 MB", {
  timeout: 120_000,
}, async () => {
  const zlib = await import("node:zlib");
  // the same gzip member many times over: a multi-member file, quick to write, ~10 MB per member decompressed
  const write = (file: string, members: number): number => {
    const note = "t".repeat(900);
    let block = "";
    for (let i = 0; i < 1000; i++) block += `${i},${i * 0.5},${note}${i}\n`;
    const member = zlib.gzipSync(block);
    const fd = fs.openSync(file, "w");
    fs.writeSync(fd, zlib.gzipSync("id,x,note\n"));
    for (let m = 0; m < members; m++) fs.writeSync(fd, member);
    fs.closeSync(fd);
    return (block.length * members) / 2 ** 20;
  };
  const read = (file: string) => {
    const r = spawnSync(
      process.execPath,
      ["--max-old-space-size=64", "--import", "tsx", "test/pipeline/read-rss-child.ts", file, "id,x"],
      { encoding: "utf8" },
    );
    assert.equal(r.status, 0, r.stderr);
    return childReport(r as ReturnType<typeof runChild>);
  };
  const small = path.join(dir, "small.csv.gz");
  const large = path.join(dir, "large.csv.gz");
  write(small, 15);
  const largeMB = write(large, 150);
  const a = read(small);
  const b = read(large);
  assert.deepEqual([a.rows, b.rows], [15_000, 150_000]);
  // holding the decompressed text (150 MB as bytes, more as a string) would peak far over this bound
  assert.ok(
    b.maxRssMB <= a.maxRssMB * 1.3 + 24,
    `${largeMB.toFixed(0)} MB of gzip CSV peaked at ${b.maxRssMB} MB vs ${a.maxRssMB} MB for a tenth of it`,
  );
});
