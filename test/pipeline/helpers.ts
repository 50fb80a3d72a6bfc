/** Test helpers: generated batches with every column kind, nulls and awkward strings. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Column, FieldSpec, RecordBatch } from "../../src/pipeline/index.ts";
import { cellValue, openSink, openSource } from "../../src/pipeline/index.ts";
import type { InferenceSession } from "../../src/runtime/index.ts";

export function tmpDir(prefix = "tessera-pipeline-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** scoreFiles options of the test model "mlp" keyed by `id`: 256-row batches, 512-row parts, no progress. */
export function mlpScoreOptions(session: InferenceSession, inputs: string[], output: string) {
  return {
    session,
    model: { name: "mlp", version: "1", sha256: "test" },
    inputs,
    output,
    keyColumns: ["id"],
    batchSize: 256,
    partRows: 512,
    progress: false as const,
  };
}

/** scoreFiles options of a text job on model `name`: column `text` keyed by `id`, bad rows skipped, no progress. */
export function textScoreOptions(name: string, input: string, output: string) {
  return {
    model: { name, version: "1", sha256: "x" },
    inputs: [input],
    output,
    textColumn: "text",
    keyColumns: ["id"],
    onError: "skip" as const,
    progress: false as const,
  };
}

/** A small deterministic generator (tests must not use Math.random). */
export function lcg(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

const STRINGS = [
  "plain",
  "with,comma",
  'with "quotes"',
  "multi\nline",
  " padded ",
  "",
  "unicode: é中🙂",
  "tab\there",
];

/** A batch with one column of each kind (nulls every 7th row in nullable columns) plus `wide` extra float32 columns. */
export function sampleBatch(rows: number, wide = 0, seed = 1): { batch: RecordBatch; fields: FieldSpec[] } {
  const rnd = lcg(seed);
  const mask = (every: number) => {
    const v = new Uint8Array(rows).fill(1);
    for (let i = 0; i < rows; i += every) v[i] = 0;
    return v;
  };
  const cols = new Map<string, Column>();
  const id = new BigInt64Array(rows);
  for (let i = 0; i < rows; i++) id[i] = BigInt(i) * 3n - 5n;
  cols.set("id", { kind: "int64", length: rows, valid: null, values: id });
  const f32 = new Float32Array(rows).map(() => rnd() * 2 - 1);
  const v32 = mask(7);
  for (let i = 0; i < rows; i++) if (!v32[i]) f32[i] = 0;
  cols.set("f32", { kind: "float32", length: rows, valid: v32, values: f32 });
  const f64 = new Float64Array(rows).map(() => (rnd() - 0.5) * 1e6);
  cols.set("f64", { kind: "float64", length: rows, valid: null, values: f64 });
  const i32 = new Int32Array(rows).map(() => Math.floor(rnd() * 2000) - 1000);
  const vi = mask(5);
  for (let i = 0; i < rows; i++) if (!vi[i]) i32[i] = 0;
  cols.set("i32", { kind: "int32", length: rows, valid: vi, values: i32 });
  const b = new Uint8Array(rows).map(() => (rnd() < 0.5 ? 1 : 0));
  cols.set("flag", { kind: "bool", length: rows, valid: null, values: b });
  const vs = mask(4);
  const s = Array.from({ length: rows }, (_, i) => (vs[i] ? STRINGS[i % STRINGS.length]! : ""));
  cols.set("name", { kind: "utf8", length: rows, valid: vs, values: s });
  const vec = new Float32Array(rows * 3).map(() => rnd());
  const vv = mask(9);
  for (let i = 0; i < rows; i++) if (!vv[i]) vec.fill(0, i * 3, i * 3 + 3);
  cols.set("emb", { kind: "vector", size: 3, length: rows, valid: vv, values: vec });
  for (let w = 0; w < wide; w++) {
    cols.set(`w${w}`, {
      kind: "float32",
      length: rows,
      valid: null,
      values: new Float32Array(rows).map(() => rnd()),
    });
  }
  const batch = { numRows: rows, columns: cols };
  const fields: FieldSpec[] = [...cols].map(([name, c]) =>
    c.kind === "vector" ? { name, kind: c.kind, size: c.size } : { name, kind: c.kind },
  );
  return { batch, fields };
}

/** All rows as arrays of JS cell values, for deep equality. */
export function rowsOf(batches: readonly RecordBatch[], names: readonly string[]): unknown[][] {
  const out: unknown[][] = [];
  for (const b of batches) {
    const cols = names.map((n) => {
      const c = b.columns.get(n);
      if (!c) throw new Error(`no column ${n}`);
      return c;
    });
    for (let r = 0; r < b.numRows; r++) out.push(cols.map((c) => cellValue(c, r)));
  }
  return out;
}

/** Every batch of a file, read through openSource. */
export async function readBatches(
  file: string,
  options: Parameters<typeof openSource>[1] = {},
): Promise<RecordBatch[]> {
  const src = await openSource(file, options);
  const out: RecordBatch[] = [];
  for await (const c of src.chunks()) out.push(c.batch);
  return out;
}

/** A JSON Lines file (a rejects file, a JSONL output) as parsed objects, one per line. */
export function readJsonl(file: string) {
  return fs
    .readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
}

/**
 * Writes a Parquet file of `rows` rows: `id` (int64) + `features` float32 columns f0.. in [-1, 1), generated one
 * 64k-row chunk at a time (memory stays flat), in row groups of `groupRows`. Deterministic for a given size.
 * Used by the memory test and by bench/score.
 */
export async function writeFeatureParquet(
  file: string,
  rows: number,
  features: number,
  groupRows = 65536,
): Promise<void> {
  const rnd = lcg(rows + features);
  const fields: FieldSpec[] = [
    { name: "id", kind: "int64" },
    ...Array.from({ length: features }, (_, f) => ({ name: `f${f}`, kind: "float32" as const })),
  ];
  const sink = await openSink(file, "parquet", fields, { rowGroupRows: groupRows });
  for (let start = 0; start < rows; start += 65536) {
    const n = Math.min(65536, rows - start);
    const cols = new Map<string, Column>();
    cols.set("id", {
      kind: "int64",
      length: n,
      valid: null,
      values: new BigInt64Array(n).map((_, i) => BigInt(start + i)),
    });
    for (let f = 0; f < features; f++)
      cols.set(`f${f}`, {
        kind: "float32",
        length: n,
        valid: null,
        values: new Float32Array(n).map(() => rnd() * 2 - 1),
      });
    await sink.write({ numRows: n, columns: cols });
  }
  await sink.close();
}
