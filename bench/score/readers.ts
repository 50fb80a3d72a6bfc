/**
 * Parquet reader comparison that decided the Parquet source (results in bench/RESULTS.md `## score`).
 *
 *   node --import tsx bench/score/readers.ts gen FILE ROWS required|optional   # 1 id + 16 float32 columns, row groups of 65536
 *   node --import tsx bench/score/readers.ts READER FILE                        # one reader, one process (for its peak RSS)
 *
 * READER: hyparquet (parquetRead per row group, onChunk), tessera (openSource: hyparquet page decoders into typed
 * arrays for flat numeric columns), parquet-wasm (0.8.0: ParquetFile.read per row group → Arrow IPC → apache-arrow),
 * polars (nodejs-polars 0.25.2: scanParquet().slice().collectSync()). parquet-wasm and polars are not dependencies:
 * install them in another folder and point READERS_NODE_MODULES at its node_modules.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { asyncBufferFromFile, parquetMetadataAsync, parquetRead } from "hyparquet";
import { parquetWriteFile } from "hyparquet-writer";
import { openSource } from "../../src/pipeline/index.ts";

const [which, file, a3, a4] = process.argv.slice(2);
const external = process.env.READERS_NODE_MODULES ?? "/tmp/readers/node_modules";

if (which === "gen") {
  const n = Number(a3);
  const nullable = a4 === "optional";
  const id = new BigInt64Array(n).map((_, i) => BigInt(i));
  const columnData: { name: string; data: ArrayLike<unknown>; type: "INT64" | "FLOAT"; nullable: boolean }[] =
    [{ name: "id", data: id, type: "INT64", nullable }];
  let s = 1;
  for (let f = 0; f < 16; f++) {
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      x[i] = s / 4294967296 - 0.5;
    }
    columnData.push({ name: `f${f}`, data: x, type: "FLOAT", nullable });
  }
  parquetWriteFile({ filename: file!, columnData: columnData as never, rowGroupSize: 65536 });
  process.exit(0);
}

const t0 = performance.now();
let rows = 0;
let check = 0;
if (which === "hyparquet") {
  const buf = await asyncBufferFromFile(file!);
  const md = await parquetMetadataAsync(buf);
  let start = 0;
  for (const rg of md.row_groups) {
    const n = Number(rg.num_rows);
    let first: ArrayLike<number> | undefined;
    await parquetRead({
      file: buf,
      metadata: md,
      rowStart: start,
      rowEnd: start + n,
      onChunk: (c) => {
        if (c.columnName === "f0") first ??= c.columnData as ArrayLike<number>;
      },
    });
    check += first?.[0] ?? 0;
    start += n;
    rows += n;
  }
} else if (which === "tessera") {
  const src = await openSource(file!);
  for await (const c of src.chunks()) {
    rows += c.batch.numRows;
    check += (c.batch.columns.get("f0")!.values as Float32Array)[0]!;
  }
} else if (which === "parquet-wasm") {
  const pw = await import(path.join(external, "parquet-wasm/node/parquet_wasm.js"));
  const { tableFromIPC } = await import("apache-arrow");
  const pf = await pw.ParquetFile.fromFile(await fs.openAsBlob(file!));
  const groups = pf.metadata().numRowGroups();
  for (let i = 0; i < groups; i++) {
    const table = tableFromIPC((await pf.read({ rowGroups: [i] })).intoIPCStream());
    rows += table.numRows;
    check += table.getChild("f0")!.get(0) as number;
  }
} else if (which === "polars") {
  const pl = (await import(path.join(external, "nodejs-polars/bin/index.js"))).default;
  const total = Number((await parquetMetadataAsync(await asyncBufferFromFile(file!))).num_rows);
  const lf = pl.scanParquet(file);
  for (let s = 0; s < total; s += 65536) {
    const df = lf.slice(s, 65536).collectSync();
    rows += df.height;
    // into JS like the others: every column as a typed array
    for (const name of df.columns as string[]) {
      const a = df.getColumn(name).toTypedArray();
      if (name === "f0") check += a[0];
    }
  }
} else throw new Error(`unknown reader ${which}`);
const ms = performance.now() - t0;
console.log(
  JSON.stringify({
    reader: which,
    rows,
    ms: Math.round(ms),
    rowsPerSecond: Math.round((rows / ms) * 1000),
    maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    check,
  }),
);
