import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import {
  type FileFormat,
  openSink,
  openSource,
  type RecordBatch,
  type SourceCursor,
  sliceBatch,
} from "../../src/pipeline/index.ts";
import { readBatches, rowsOf, sampleBatch, tmpDir } from "./helpers.ts";

const dir = tmpDir();
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const EXT: Record<FileFormat, string> = {
  parquet: "parquet",
  arrow: "arrow",
  arrows: "arrows",
  csv: "csv",
  jsonl: "jsonl",
};

describe("sources and sinks round-trip", () => {
  for (const format of ["parquet", "arrow", "arrows", "csv", "jsonl"] as const) {
    test(`${format}: every column kind, nulls, awkward strings, wide rows, several batches`, async () => {
      const { batch, fields } = sampleBatch(1000, 200);
      const file = path.join(dir, `rt.${EXT[format]}`);
      const sink = await openSink(file, format, fields, { rowGroupRows: 300 });
      // written in uneven batches
      for (const [a, b] of [
        [0, 1],
        [1, 250],
        [250, 999],
        [999, 1000],
      ] as const)
        await sink.write(sliceBatch(batch, a, b));
      const size = await sink.close();
      assert.equal(size, fs.statSync(file).size);
      // CSV/JSONL get the schema (their inference would read int64 as float64); binary formats carry it
      const back = await readBatches(
        file,
        format === "csv" || format === "jsonl" ? { schema: fields, chunkBytes: 64 << 10 } : {},
      );
      assert.ok(back.length > 1, "read in several chunks");
      const names = fields.map((f) => f.name);
      assert.deepEqual(rowsOf(back, names), rowsOf([batch], names));
      for (const f of fields) assert.equal(back[0]!.columns.get(f.name)!.kind, f.kind, `${format} ${f.name}`);
    });
  }

  test("projection reads only the requested columns", async () => {
    const { batch, fields } = sampleBatch(50, 3);
    for (const format of ["parquet", "arrow", "csv", "jsonl"] as const) {
      const file = path.join(dir, `proj.${EXT[format]}`);
      const sink = await openSink(file, format, fields);
      await sink.write(batch);
      await sink.close();
      const back = await readBatches(file, { columns: ["w1", "id"] });
      assert.deepEqual([...back[0]!.columns.keys()].sort(), ["id", "w1"], format);
      assert.deepEqual(
        rowsOf(back, ["w1"]).map((r) => r[0]),
        rowsOf([batch], ["w1"]).map((r) => r[0]),
        format,
      );
      await assert.rejects(
        openSource(file, { columns: ["nope"] }).then((s) => readBatches(s.path, { columns: ["nope"] })),
        {
          code: "E_PIPELINE_MISSING_COLUMN",
        },
      );
    }
  });

  test("CSV/JSONL infer kinds from the first chunk and report later misfits as row problems", async () => {
    const csv = path.join(dir, "infer.csv");
    const lines = ["id,x,label,v"];
    for (let i = 0; i < 100; i++) lines.push(`${i},${i / 4},${i % 2 ? "yes" : "no"},"[${i},1]"`);
    lines.push('100,abc,x,"[1,2]"', "101,1.5", '102,2,"unclosed,"[1,2]"');
    fs.writeFileSync(csv, lines.join("\n") + "\n");
    const batches = await readBatches(csv, { chunkBytes: 1024 });
    const all = batches.flatMap((b) => b.problems ?? []);
    const kinds = Object.fromEntries([...batches[0]!.columns].map(([k, c]) => [k, c.kind]));
    assert.deepEqual(kinds, { id: "float64", x: "float64", label: "utf8", v: "vector" });
    const reasons = all.map((p) => `${p.column}:${p.reason}`);
    assert.ok(reasons.includes('x:expected a number, got "abc"'), reasons.join("|"));
    assert.ok(
      reasons.some((r) => r.startsWith("null:expected 4 fields, got 2")),
      reasons.join("|"),
    );
    assert.equal(
      batches.reduce((s, b) => s + b.numRows, 0),
      103,
    );
    assert.ok(
      all.some((p) => p.line === 104 && p.reason.startsWith("unexpected character after closing quote")),
      reasons.join("|"),
    );

    const jsonl = path.join(dir, "infer.jsonl");
    const jl = [];
    for (let i = 0; i < 50; i++) jl.push(JSON.stringify({ id: i, x: i * 0.5, tags: [i, i + 1] }));
    jl.push(
      "{not json",
      JSON.stringify({ id: 51, x: "str", tags: [1, 2] }),
      JSON.stringify({ id: 52 }),
      "[1,2]",
    );
    fs.writeFileSync(jsonl, jl.join("\n") + "\n");
    const jb = await readBatches(jsonl, { chunkBytes: 512 });
    const jp = jb.flatMap((b) => (b.problems ?? []).map((p) => ({ ...p, row: 0 })));
    assert.deepEqual(
      jp.map((p) => [p.line, p.column]),
      [
        [51, null],
        [52, "x"],
        [54, null],
      ],
    );
    const rows = rowsOf(jb, ["id", "x", "tags"]);
    assert.equal(rows.length, 54);
    assert.deepEqual(rows[52], [52, null, null]);
  });

  test("resuming text sources from a chunk cursor continues exactly after it (quoted newlines across chunks)", async () => {
    for (const format of ["csv", "jsonl"] as const) {
      const { batch, fields } = sampleBatch(600);
      const file = path.join(dir, `resume.${format}`);
      const sink = await openSink(file, format, fields);
      await sink.write(batch);
      await sink.close();
      const src = await openSource(file, { schema: fields, chunkBytes: 2000 });
      const chunks = [];
      for await (const c of src.chunks()) chunks.push(c);
      assert.ok(chunks.length > 5);
      const names = fields.map((f) => f.name);
      const mid = chunks[3]!;
      const rest = [];
      for await (const c of src.chunks(mid.end)) rest.push(c);
      assert.equal(rest[0]!.firstRow, mid.end.rows);
      assert.deepEqual(
        rowsOf(
          rest.map((c) => c.batch),
          names,
        ),
        rowsOf([sliceBatch(batch, mid.end.rows, 600)], names),
        format,
      );
    }
  });

  test("parquet and arrow sources resume from a row count, also inside a row group / batch", async () => {
    const { batch, fields } = sampleBatch(1000);
    for (const format of ["parquet", "arrow", "arrows"] as const) {
      const file = path.join(dir, `resume-rows.${EXT[format]}`);
      const sink = await openSink(file, format, fields, { rowGroupRows: 128 });
      for (let i = 0; i < 1000; i += 128) await sink.write(sliceBatch(batch, i, Math.min(1000, i + 128)));
      await sink.close();
      const src = await openSource(file);
      if (format === "parquet") assert.equal(src.totalRows, 1000);
      const rest = [];
      for await (const c of src.chunks({ rows: 300 })) rest.push(c.batch);
      const names = fields.map((f) => f.name);
      assert.deepEqual(rowsOf(rest, names), rowsOf([sliceBatch(batch, 300, 1000)], names), format);
    }
  });
});

test("mergeParquet copies row groups of several files into one without decoding", async () => {
  const { mergeParquet } = await import("../../src/pipeline/index.ts");
  const { batch, fields } = sampleBatch(700, 5);
  const parts: string[] = [];
  for (const [i, [a, b]] of [
    [0, 300],
    [300, 301],
    [301, 700],
  ].entries()) {
    const p = path.join(dir, `m-${i}.parquet`);
    const sink = await openSink(p, "parquet", fields, { rowGroupRows: 128 });
    await sink.write(sliceBatch(batch, a!, b!));
    await sink.close();
    parts.push(p);
  }
  const merged = path.join(dir, "merged.parquet");
  mergeParquet(parts, merged, fields);
  const src = await openSource(merged);
  assert.equal(src.totalRows, 700);
  const back: RecordBatch[] = [];
  for await (const c of src.chunks()) back.push(c.batch);
  const names = fields.map((f) => f.name);
  assert.deepEqual(rowsOf(back, names), rowsOf([batch], names));
});

test("Parquet written by other writers (Polars; arrow-rs with dictionary pages, v1 pages, 3 row groups) reads like hyparquet's reference decoder", async () => {
  const { parquetReadObjects } = await import("hyparquet");
  for (const name of ["polars-optional.parquet", "arrow-rs-dictionary.parquet"]) {
    const file = path.join(import.meta.dirname, "fixtures", name);
    const buf = fs.readFileSync(file);
    const ref = await parquetReadObjects({
      file: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength),
    });
    const src = await openSource(file);
    const got: RecordBatch[] = [];
    for await (const c of src.chunks({ rows: 1500 })) got.push(c.batch);
    const rows = rowsOf(got, ["id", "x", "k", "f", "b", "s"]);
    assert.equal(rows.length, 1500, name);
    for (let i = 0; i < 1500; i++) {
      const r = ref[i + 1500]!;
      const norm = (v: unknown) => v ?? null;
      assert.deepEqual(rows[i], [r.id, r.x, r.k, r.f, r.b, r.s].map(norm), `${name} row ${i + 1500}`);
    }
    // kinds and nulls
    const b0 = got[0]!;
    assert.equal(b0.columns.get("x")!.kind, "float64");
    assert.equal(b0.columns.get("f")!.kind, "float32");
    assert.equal(b0.columns.get("k")!.kind, "int32");
    assert.ok(b0.columns.get("x")!.valid !== null);
  }
});

test("a resumed CSV/JSONL source infers column kinds from the file's first chunk, not from the resume point", async () => {
  const csv = path.join(dir, "kinds.csv");
  const lines = ["id,tag"];
  for (let i = 0; i < 200; i++) lines.push(`${i},${i < 100 ? `t${i}` : i}`); // text first, numbers later
  fs.writeFileSync(csv, `${lines.join("\n")}\n`);
  const jsonl = path.join(dir, "kinds.jsonl");
  fs.writeFileSync(
    jsonl,
    `${Array.from({ length: 200 }, (_, i) => JSON.stringify({ id: i, tag: i < 100 ? `t${i}` : i })).join("\n")}\n`,
  );
  for (const file of [csv, jsonl]) {
    const first = await openSource(file, { chunkBytes: 256 });
    let cursor: SourceCursor | undefined;
    for await (const c of first.chunks()) if (c.firstRow > 150) cursor ??= { ...c.end };
    assert.ok(cursor && cursor.rows > 150);
    const fresh = await openSource(file, { chunkBytes: 256 });
    for await (const c of fresh.chunks(cursor)) {
      assert.equal(c.batch.columns.get("tag")!.kind, "utf8", file);
      assert.equal(c.batch.problems?.length ?? 0, 0);
      break;
    }
    // a row cursor without a byte offset cannot be resumed (refused before anything is read)
    const noByte = await openSource(file, { chunkBytes: 256 });
    await assert.rejects(
      async () => {
        for await (const _ of noByte.chunks({ rows: cursor.rows })) break;
      },
      { code: "E_PIPELINE_RESUME" },
    );
  }
});

test("a large Parquet row group is read in windows of chunkRows rows, also when resuming inside it", async () => {
  const { batch, fields } = sampleBatch(5000, 2, 9);
  const file = path.join(dir, "one-group.parquet");
  const sink = await openSink(file, "parquet", fields, { rowGroupRows: 5000 });
  await sink.write(batch);
  await sink.close();
  const names = fields.map((f) => f.name);
  const src = await openSource(file, { chunkRows: 700 });
  const chunks = [];
  for await (const c of src.chunks()) chunks.push(c);
  assert.deepEqual(
    chunks.map((c) => c.batch.numRows),
    [700, 700, 700, 700, 700, 700, 700, 100],
  );
  assert.deepEqual(
    rowsOf(
      chunks.map((c) => c.batch),
      names,
    ),
    rowsOf([batch], names),
  );
  const rest: RecordBatch[] = [];
  for await (const c of src.chunks({ rows: 3333 })) rest.push(c.batch);
  assert.equal(rest[0]!.numRows, 700);
  assert.deepEqual(rowsOf(rest, names), rowsOf([sliceBatch(batch, 3333, 5000)], names));
  // third-party single-row-group file, windowed
  const polars = await openSource(path.join(import.meta.dirname, "fixtures", "polars-optional.parquet"), {
    chunkRows: 1024,
  });
  const sizes = [];
  for await (const c of polars.chunks()) sizes.push(c.batch.numRows);
  assert.deepEqual(sizes, [1024, 1024, 952]);
});

test("a column chunk whose dictionary_page_offset is 0 (some writers' 'no dictionary') reads from data_page_offset", async () => {
  const { FlatColumnStream } = await import("../../src/pipeline/sources/parquet-flat.ts");
  const { asyncBufferFromFile, parquetMetadataAsync, parquetSchema } = await import("hyparquet");
  const { batch, fields } = sampleBatch(300, 0, 4);
  const file = path.join(dir, "dict-offset-zero.parquet");
  const sink = await openSink(file, "parquet", fields);
  await sink.write(batch);
  await sink.close();
  const metadata = await parquetMetadataAsync(await asyncBufferFromFile(file));
  const tree = parquetSchema(metadata);
  const node = tree.children.find((c) => c.element.name === "f32")!;
  const chunk = metadata.row_groups[0]!.columns.find((c) => c.meta_data?.path_in_schema[0] === "f32")!;
  assert.equal(chunk.meta_data!.dictionary_page_offset, undefined, "the sink writes float columns PLAIN");
  chunk.meta_data!.dictionary_page_offset = 0n;
  const fh = await fs.promises.open(file, "r");
  try {
    const col = await new FlatColumnStream(fh, tree, node, chunk, "float32").take(300);
    assert.deepEqual(
      rowsOf([{ numRows: 300, columns: new Map([["f32", col]]) }], ["f32"]),
      rowsOf([batch], ["f32"]),
    );
  } finally {
    await fh.close();
  }
});

test("Parquet pages compressed with GZIP, BROTLI, LZ4 (Hadoop framing), LZ4_RAW and ZSTD read like the SNAPPY file", async () => {
  const fixture = (name: string) => path.join(import.meta.dirname, "fixtures", name);
  const names = ["id", "x", "k", "f", "b", "s"];
  const readRows = async (file: string) => rowsOf(await readBatches(file), names);
  const want = (await readRows(fixture("polars-optional.parquet"))).slice(0, 600);
  for (const codec of ["gzip", "brotli", "lz4", "lz4-raw", "zstd"]) {
    assert.deepEqual(await readRows(fixture(`codec-${codec}.parquet`)), want, codec);
  }
});

test("files a reader cannot decode fail with E_PIPELINE_FORMAT naming the file; a directory with E_PIPELINE_NO_INPUT", async () => {
  const { expandInputs } = await import("../../src/pipeline/index.ts");
  const { batch, fields } = sampleBatch(2000, 0, 5);
  const arrows = path.join(dir, "whole.arrows");
  const sink = await openSink(arrows, "arrows", fields);
  for (let i = 0; i < 2000; i += 500) await sink.write(sliceBatch(batch, i, i + 500));
  await sink.close();
  const cut = (from: string, name: string, bytes: number) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, fs.readFileSync(from).subarray(0, bytes));
    return file;
  };
  const polars = path.join(import.meta.dirname, "fixtures", "polars-optional.parquet");
  const isFormat = (file: string) => (e: Error & { code?: string }) =>
    e.code === "E_PIPELINE_FORMAT" && e.message.includes(file);
  for (const file of [
    cut(polars, "empty.parquet", 0),
    cut(polars, "truncated.parquet", 20000),
    cut(arrows, "empty.arrow", 0),
  ]) {
    await assert.rejects(openSource(file), isFormat(file), file);
  }
  // a stream cut inside its third batch: the first batches read, then the error names the file
  const truncated = cut(arrows, "truncated.arrows", Math.floor(fs.statSync(arrows).size * 0.6));
  const src = await openSource(truncated);
  let rows = 0;
  await assert.rejects(
    (async () => {
      for await (const c of src.chunks()) rows += c.batch.numRows;
    })(),
    isFormat(truncated),
  );
  assert.ok(rows >= 500 && rows < 2000, `read ${rows} rows before the cut`);
  const folder = path.join(dir, "folder.parquet");
  fs.mkdirSync(folder);
  for (const attempt of [() => openSource(folder), async () => expandInputs([folder])]) {
    await assert.rejects(
      attempt(),
      (e: Error & { code?: string }) => e.code === "E_PIPELINE_NO_INPUT" && /is a directory/.test(e.message),
    );
  }
});

test("Parquet unsigned integers (Polars UInt8/16/32) read as numbers with their values; UInt64 as exact decimal text", async () => {
  const src = await openSource(path.join(import.meta.dirname, "fixtures", "polars-unsigned.parquet"));
  const got: RecordBatch[] = [];
  for await (const c of src.chunks()) got.push(c.batch);
  const cols = got[0]!.columns;
  assert.deepEqual(
    ["u8", "u16", "u32", "u64"].map((n) => cols.get(n)!.kind),
    ["int32", "int32", "float64", "utf8"],
  );
  assert.deepEqual(rowsOf(got, ["u8", "u16", "u32", "u64"]), [
    [0, 0, 0, "0"],
    [1, 1, 1, "1"],
    [128, 32768, 2147483648, "9223372036854775808"],
    [255, 65535, 4294967295, "18446744073709551615"],
    [null, null, null, null],
  ]);
});

test("a CSV header naming a column twice is refused by name (one of them was silently dropped)", async () => {
  const file = path.join(dir, "dup-header.csv");
  fs.writeFileSync(file, "id,a,b,a\n1,2,3,4\n");
  await assert.rejects(
    openSource(file),
    (e: Error & { code?: string }) =>
      e.code === "E_PIPELINE_FORMAT" && /column "a" twice \(fields 2 and 4\)/.test(e.message),
  );
});

test("Arrow IPC with LZ4_FRAME-compressed batches (linked 64 KB blocks, Polars/pyarrow Feather) or ZSTD ones reads", async () => {
  const fixture = (name: string) => path.join(import.meta.dirname, "fixtures", name);
  const got = await readBatches(fixture("polars-lz4.arrow"));
  assert.deepEqual(
    rowsOf(got, ["id", "x"]),
    Array.from({ length: 12000 }, (_, i) => [BigInt(i), (i % 100) / 2]),
  );
  const zstd = await readBatches(fixture("polars-zstd.arrow"));
  const names = ["id", "x", "k", "f", "b", "s"];
  const ref = await readBatches(fixture("polars-optional.parquet"));
  assert.deepEqual(rowsOf(zstd, names), rowsOf(ref, names).slice(0, 10));
});

test("a stray quote inside an unquoted CSV field does not make the rest of the file one record (chunks stay bounded)", async () => {
  const file = path.join(dir, "stray-quote.csv");
  const lines = ["id,x,note"];
  for (let i = 0; i < 4000; i++)
    lines.push(`${i},${i / 2},${i === 3 ? 'tv 5" screen' : i % 500 === 0 ? '"quoted, ""ok"""' : "plain"}`);
  fs.writeFileSync(file, `${lines.join("\r\n")}\r\n`);
  const src = await openSource(file, { chunkBytes: 4096 });
  let rows = 0;
  let largest = 0;
  const problems: unknown[] = [];
  const notes: unknown[] = [];
  for await (const c of src.chunks()) {
    rows += c.batch.numRows;
    largest = Math.max(largest, c.batch.numRows);
    for (const p of c.batch.problems ?? []) problems.push([c.firstRow + p.index, p.reason]);
    notes.push(...rowsOf([c.batch], ["note"]).map((r) => r[0]));
  }
  assert.equal(rows, 4000);
  assert.ok(largest < 400, `largest chunk ${largest} rows: the reader held the file after the stray quote`);
  assert.deepEqual(problems, [[3, "stray quote in field 3"]]);
  assert.equal(notes[500], 'quoted, "ok"');
});

test("CSV inference keeps codes with leading zeros as text and integers past 2^53 exact (int64)", async () => {
  const file = path.join(dir, "codes.csv");
  fs.writeFileSync(
    file,
    "code,zip,big,x\n007,02139,1234567890123456789,0.5\n010,94105,-9007199254740993,0\n123,10001,5,1e3\n",
  );
  const got = await readBatches(file);
  const cols = got[0]!.columns;
  assert.deepEqual(
    ["code", "zip", "big", "x"].map((n) => cols.get(n)!.kind),
    ["utf8", "utf8", "int64", "float64"],
  );
  assert.deepEqual(rowsOf(got, ["code", "zip", "big", "x"]), [
    ["007", "02139", 1234567890123456789n, 0.5],
    ["010", "94105", -9007199254740993n, 0],
    ["123", "10001", 5n, 1000],
  ]);
});

test("JSONL integers past 2^53 (snowflake ids) keep every digit (int64); the same digits inside strings stay text", async () => {
  const file = path.join(dir, "big-ids.jsonl");
  fs.writeFileSync(
    file,
    [
      '{"id": 1234567890123456789, "note": "ref 98765432109876543210 \\" quoted", "x": 1.5}',
      '{"id": 5, "note": "plain", "x": 2}',
      '{"id": -9007199254740993, "note": "n", "x": -1e300}',
    ].join("\n"),
  );
  const got = await readBatches(file);
  assert.equal(got[0]!.columns.get("id")!.kind, "int64");
  assert.deepEqual(rowsOf(got, ["id", "note", "x"]), [
    [1234567890123456789n, 'ref 98765432109876543210 " quoted', 1.5],
    [5n, "plain", 2],
    [-9007199254740993n, "n", -1e300],
  ]);
  // 17-digit float fractions (Python's json.dumps) stay floats next to a snowflake id, first or last in the line
  const mixed = path.join(dir, "big-ids-floats.jsonl");
  fs.writeFileSync(
    mixed,
    '{"x": 0.30053370788150874, "id": 98765432109876543}\n{"id": 7, "x": -2.8371030565819190e-5}\n',
  );
  const got2 = await readBatches(mixed);
  assert.deepEqual(rowsOf(got2, ["id", "x"]), [
    [98765432109876543n, 0.30053370788150874],
    [7n, -2.837103056581919e-5],
  ]);
});
