import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { mlpClassifier } from "../../src/onnx/index.ts";
import {
  type Column,
  type FieldSpec,
  openSink,
  type RecordBatch,
  scoreFiles,
  sliceBatch,
} from "../../src/pipeline/index.ts";
import { type InferenceSession, openSession } from "../../src/runtime/index.ts";
import { Tensor } from "../../src/tensor/index.ts";
import { lcg, readBatches, readJsonl, rowsOf, tmpDir } from "./helpers.ts";

const F = 6;
const LABELS = ["cat", "dog", "eel"];
const dir = tmpDir();
let session: InferenceSession;
const model = mlpClassifier({ inputDim: F, hidden: [16], classes: 3, seed: 7 });
const info = { name: "mlp", version: "1", sha256: "test", labels: LABELS };

before(async () => {
  session = await openSession(model.bytes, { replicas: 2, intraOpThreads: 1 });
});
after(async () => {
  await session.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** n rows: id (int64), x0..x(F-1) float32 (x2 also as float64), a name column. */
function inputBatch(n: number, seed = 3): { batch: RecordBatch; fields: FieldSpec[] } {
  const rnd = lcg(seed);
  const cols = new Map<string, Column>();
  const id = new BigInt64Array(n).map((_, i) => BigInt(i + 1000));
  cols.set("id", { kind: "int64", length: n, valid: null, values: id });
  for (let f = 0; f < F; f++) {
    if (f === 2)
      cols.set(`x${f}`, {
        kind: "float64",
        length: n,
        valid: null,
        values: new Float64Array(n).map(() => rnd() * 4 - 2),
      });
    else
      cols.set(`x${f}`, {
        kind: "float32",
        length: n,
        valid: null,
        values: new Float32Array(n).map(() => rnd() * 4 - 2),
      });
  }
  cols.set("name", {
    kind: "utf8",
    length: n,
    valid: null,
    values: Array.from({ length: n }, (_, i) => `row ${i}`),
  });
  const fields = [...cols].map(([name, c]) => ({ name, kind: c.kind }) as FieldSpec);
  return { batch: { numRows: n, columns: cols }, fields };
}

async function writeInput(
  file: string,
  format: "parquet" | "csv" | "jsonl" | "arrow",
  batch: RecordBatch,
  fields: FieldSpec[],
  step = 1000,
) {
  const sink = await openSink(file, format, fields, { rowGroupRows: step });
  for (let i = 0; i < batch.numRows; i += step)
    await sink.write(sliceBatch(batch, i, Math.min(batch.numRows, i + step)));
  await sink.close();
}

/** inputBatch(n) written to `name` in the test folder as `format`. */
async function writeSample(name: string, format: "parquet" | "csv" | "jsonl" | "arrow", n: number) {
  const { batch, fields } = inputBatch(n);
  const input = path.join(dir, name);
  await writeInput(input, format, batch, fields);
  return { batch, fields, input };
}

/** The scoreFiles options most tests start from: the MLP on `input`, keyed by id, no progress line. */
function mlpOptions(input: string, output: string, scoring: InferenceSession = session) {
  return {
    session: scoring,
    model: info,
    inputs: [input],
    output,
    keyColumns: ["id"],
    progress: false as const,
  };
}

/** Reference: the whole feature matrix through session.run at once. */
async function reference(batch: RecordBatch): Promise<Float32Array> {
  const n = batch.numRows;
  const x = new Float32Array(n * F);
  for (let f = 0; f < F; f++) {
    const c = batch.columns.get(`x${f}`)!;
    for (let i = 0; i < n; i++) x[i * F + f] = Number(c.values[i]);
  }
  const r = await session.run({ input: Tensor.wrap(x, [n, F]) });
  return r.outputs.probabilities!.data as Float32Array;
}

describe("scoreFiles", () => {
  test("parquet → parquet: predictions equal session.run on all rows; keys, labels, manifest", async () => {
    const { batch, fields } = inputBatch(5000);
    const input = path.join(dir, "in.parquet");
    await writeInput(input, "parquet", batch, fields, 1500);
    const output = path.join(dir, "out.parquet");
    const summary = await scoreFiles({
      ...mlpOptions(input, output),
      columns: ["x0", "x1", "x2", "x3", "x4", "x5"],
      batchSize: 700,
      partRows: 2000,
    });
    assert.equal(summary.rowsRead, 5000);
    assert.equal(summary.rowsScored, 5000);
    assert.equal(summary.rowsRejected, 0);
    assert.equal(summary.parts, 3);
    assert.ok(!fs.existsSync(`${output}.parts`));
    const out = await readBatches(output);
    const names = [...out[0]!.columns.keys()];
    assert.deepEqual(names, ["id", "logits", "probabilities", "label_index", "label"]);
    const probs = rowsOf(out, ["probabilities"]).map((r) => r[0] as number[]);
    const ref = await reference(batch);
    for (let i = 0; i < 5000; i++) {
      for (let k = 0; k < 3; k++) assert.ok(Math.abs(probs[i]![k]! - ref[i * 3 + k]!) < 1e-6, `row ${i}`);
    }
    const rows = rowsOf(out, ["id", "label_index", "label"]);
    assert.equal(rows[0]![0], 1000n);
    for (const [i, r] of rows.entries()) {
      const p = probs[i]!;
      const best = p.indexOf(Math.max(...p));
      assert.equal(r[1], best);
      assert.equal(r[2], LABELS[best]);
    }
    const m = JSON.parse(fs.readFileSync(summary.manifest, "utf8"));
    assert.equal(m.model.name, "mlp");
    assert.equal(m.rows.read, 5000);
    assert.equal(m.inputs[0].bytes, fs.statSync(input).size);
    assert.match(m.inputs[0].sha256, /^[0-9a-f]{64}$/);
    assert.equal(m.tessera.version, "0.1.0");
    assert.ok(m.timings.inferMs >= 0);
  });

  test("the default feature columns are every numeric column not a key; an existing output is kept without --overwrite", async () => {
    const { input } = await writeSample("in2.csv", "csv", 300);
    const output = path.join(dir, "out2.jsonl");
    await scoreFiles({ ...mlpOptions(input, output), outputs: ["probabilities"] });
    const lines = readJsonl(output);
    assert.equal(lines.length, 300);
    assert.deepEqual(Object.keys(lines[0]), ["id", "probabilities", "label_index", "label"]);
    await assert.rejects(scoreFiles(mlpOptions(input, output)), { code: "E_PIPELINE_OUTPUT_EXISTS" });
    await scoreFiles({ ...mlpOptions(input, output), overwrite: true });
  });

  test("bad rows: fail stops with file, row, column and reason after committing the rows before; skip writes rejects", async () => {
    const input = path.join(dir, "bad.csv");
    const lines = ["id,x0,x1,x2,x3,x4,x5"];
    for (let i = 0; i < 100; i++) lines.push([i, 1, 2, 3, 4, 5, i / 10].join(","));
    lines[51] = "50,1,2,oops,4,5,6"; // row 51 (line 52)
    lines[81] = "80,1,2,3,,5,6"; // null in x3
    lines[91] = "90,1,2"; // malformed
    fs.writeFileSync(input, lines.join("\n") + "\n");
    const output = path.join(dir, "bad.parquet");
    const opts = { ...mlpOptions(input, output), batchSize: 16, partRows: 32 };
    await assert.rejects(
      scoreFiles(opts),
      (e: Error & { code?: string; facts?: Record<string, unknown> }) => {
        assert.equal(e.code, "E_PIPELINE_BAD_ROW");
        assert.equal(e.facts!.row, 51);
        assert.equal(e.facts!.line, 52);
        assert.equal(e.facts!.column, "x2");
        assert.equal(e.facts!.reason, 'expected a number, got "oops"');
        assert.equal(e.facts!.committedRows, 50);
        return true;
      },
    );
    const ckpt = JSON.parse(fs.readFileSync(`${output}.parts/checkpoint.json`, "utf8"));
    assert.equal(
      ckpt.parts.reduce((s: number, p: { rowsScored: number }) => s + p.rowsScored, 0),
      50,
    );
    // continue the same job, now skipping bad rows
    const s = await scoreFiles({ ...opts, resume: true, onError: "skip" });
    assert.equal(s.rowsRead, 100);
    assert.equal(s.rowsScored, 97);
    assert.equal(s.rowsRejected, 3);
    const rejects = readJsonl(s.rejects!);
    assert.deepEqual(
      rejects.map((r) => [r.row, r.column, r.keys.id]),
      [
        [51, "x2", 50],
        [81, "x3", 80],
        [91, null, null],
      ],
    );
    const ids = rowsOf(await readBatches(output), ["id"]).map((r) => r[0]);
    assert.deepEqual(
      ids,
      [...Array(100).keys()].filter((i) => i !== 50 && i !== 80 && i !== 90),
    );
    const m = JSON.parse(fs.readFileSync(s.manifest, "utf8"));
    assert.deepEqual(m.rows, { read: 100, scored: 97, rejected: 3 });
  });

  test("several inputs (glob order), every output format gives the same predictions", async () => {
    const { batch, fields } = inputBatch(900, 11);
    const a = path.join(dir, "multi-a.arrow");
    const b = path.join(dir, "multi-b.jsonl");
    await writeInput(a, "arrow", sliceBatch(batch, 0, 400), fields, 128);
    await writeInput(b, "jsonl", sliceBatch(batch, 400, 900), fields);
    const ref = await reference(batch);
    for (const ext of ["parquet", "arrow", "arrows", "csv", "jsonl"]) {
      const output = path.join(dir, `multi-out.${ext}`);
      const s = await scoreFiles({
        session,
        model: info,
        inputs: [a, b],
        output,
        columns: ["x0", "x1", "x2", "x3", "x4", "x5"],
        keyColumns: ["id", "name"],
        outputs: ["probabilities"],
        batchSize: 256,
        partRows: 300,
        progress: false,
        source: { schema: fields },
      });
      assert.equal(s.rowsScored, 900);
      const out = await readBatches(output);
      const rows = rowsOf(out, ["id", "name", "probabilities"]);
      assert.equal(rows.length, 900, ext);
      for (let i = 0; i < 900; i++) {
        assert.equal(Number(rows[i]![0]), i + 1000, ext);
        assert.equal(rows[i]![1], `row ${i}`);
        const p = rows[i]![2] as number[];
        for (let k = 0; k < 3; k++) assert.ok(Math.abs(p[k]! - ref[i * 3 + k]!) < 1e-6, `${ext} row ${i}`);
      }
    }
  });
});

test("a list column feeds the model as a vector, concatenated with scalar columns in --columns order", async () => {
  const m = mlpClassifier({ inputDim: 5, hidden: [8], classes: 2, seed: 2 });
  const s5 = await openSession(m.bytes, { replicas: 1, intraOpThreads: 1 });
  try {
    const input = path.join(dir, "vec.jsonl");
    const rows = Array.from({ length: 40 }, (_, i) => ({ id: i, x: i / 10, emb: [i, -i, i / 2, 1] }));
    fs.writeFileSync(input, `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`);
    const output = path.join(dir, "vec-out.arrow");
    await scoreFiles({
      session: s5,
      model: { name: "m", version: "1", sha256: "x" },
      inputs: [input],
      output,
      columns: ["emb", "x"],
      keyColumns: ["id"],
      outputs: ["logits"],
      batchSize: 16,
      progress: false,
    });
    const x = new Float32Array(40 * 5);
    for (const [i, r] of rows.entries()) x.set([...r.emb, r.x], i * 5);
    const ref = (await s5.run({ input: Tensor.wrap(x, [40, 5]) })).outputs.logits!.data as Float32Array;
    const got = rowsOf(await readBatches(output), ["logits"]).flatMap((r) => r[0] as number[]);
    assert.equal(got.length, 80);
    for (const [i, v] of got.entries()) assert.ok(Math.abs(v - ref[i]!) < 1e-5, `value ${i}`);
  } finally {
    await s5.close();
  }
});

test("a missing key column is reported by name before anything is scored", async () => {
  const { input } = await writeSample("nokey.parquet", "parquet", 50);
  await assert.rejects(
    scoreFiles({
      session,
      model: info,
      inputs: [input],
      output: path.join(dir, "nokey-out.csv"),
      keyColumns: ["user_id"],
      progress: false,
    }),
    (e: Error & { code?: string }) => e.code === "E_PIPELINE_MISSING_COLUMN" && /user_id/.test(e.message),
  );
});

test("a key column named like a prediction column is refused by name; nothing is left behind, so the fixed command runs as is", async () => {
  const { batch, fields } = inputBatch(30);
  const truth = {
    kind: "utf8",
    length: 30,
    valid: null,
    values: Array.from({ length: 30 }, () => "dog"),
  } as const;
  const columns = new Map(batch.columns).set("probabilities", truth).set("label", truth);
  const input = path.join(dir, "clash.csv");
  await writeInput(input, "csv", { numRows: 30, columns }, [
    ...fields,
    { name: "probabilities", kind: "utf8" },
    { name: "label", kind: "utf8" },
  ]);
  const output = path.join(dir, "clash-out.parquet");
  const base = {
    session,
    model: info,
    inputs: [input],
    output,
    columns: ["x0", "x1", "x2", "x3", "x4", "x5"],
  };
  for (const keyColumns of [["id", "probabilities"], ["label"]]) {
    await assert.rejects(
      scoreFiles({ ...base, keyColumns, progress: false }),
      (e: Error & { code?: string }) =>
        e.code === "E_PIPELINE_OUTPUT" && e.message.includes(`"${keyColumns.at(-1)}"`),
      keyColumns.join(","),
    );
    assert.equal(fs.existsSync(`${output}.parts`), false, "no unfinished run is left");
  }
  // a typo in --columns fails before anything is committed: the parts folder goes too
  await assert.rejects(
    scoreFiles({ ...base, columns: ["x0", "nope"], keyColumns: ["id"], progress: false }),
    (e: Error & { code?: string }) => e.code === "E_PIPELINE_MISSING_COLUMN",
  );
  assert.equal(fs.existsSync(`${output}.parts`), false);
  const s = await scoreFiles({ ...base, keyColumns: ["id"], progress: false });
  assert.equal(s.rowsScored, 30);
  // an output path that is a directory is refused before scoring (it used to fail at the final rename)
  const folder = path.join(dir, "folder-out.parquet");
  fs.mkdirSync(folder);
  await assert.rejects(
    scoreFiles({ ...base, output: folder, overwrite: true, progress: false }),
    (e: Error & { code?: string }) =>
      e.code === "E_PIPELINE_OUTPUT_EXISTS" && /is a directory/.test(e.message),
  );
  assert.deepEqual(
    fs.readdirSync(dir).filter((f) => f.startsWith("folder-out.parquet")),
    ["folder-out.parquet"],
  );
});

test("--resume with another model, flag or input says what changed", async () => {
  const { input } = await writeSample("changed.jsonl", "jsonl", 40);
  fs.appendFileSync(input, '{"id": 1, "x0": "oops"}\n'); // a bad row stops the first run, leaving it to resume
  const output = path.join(dir, "changed-out.csv");
  const base = { ...mlpOptions(input, output), batchSize: 16 };
  await assert.rejects(scoreFiles(base), (e: Error & { code?: string }) => e.code === "E_PIPELINE_BAD_ROW");
  const refused = async (o: Partial<Parameters<typeof scoreFiles>[0]>, ...want: RegExp[]) =>
    assert.rejects(
      scoreFiles({ ...base, ...o, resume: true }),
      (e: Error & { code?: string }) =>
        e.code === "E_PIPELINE_RESUME" && want.every((w) => w.test(e.message)),
    );
  await refused({ model: { ...info, sha256: "other" } }, /the model \(sha256\) changed \("test" → "other"\)/);
  await refused({ batchSize: 8, keyColumns: [] }, /--batch-size changed \(16 → 8\)/, /--key-columns changed/);
  fs.appendFileSync(input, "\n");
  await refused({}, /input .*changed\.jsonl changed size/);
});

test("inputs whose key columns infer to other types: converted when exact (to text, float → integer), else refused naming the file", async () => {
  const row = (id: string) => `${id},${Array.from({ length: F }, (_, f) => f / 10).join(",")}`;
  const header = `id,${Array.from({ length: F }, (_, f) => `x${f}`).join(",")}`;
  const text = path.join(dir, "ids-text.csv");
  const nums = path.join(dir, "ids-num.csv");
  fs.writeFileSync(text, `${header}\n${row("a7")}\n`);
  fs.writeFileSync(nums, `${header}\n${row("7")}\n${row("8")}\n`);
  const { input: pq } = await writeSample("ids.parquet", "parquet", 3); // int64 ids 1000..1002 in Parquet
  const base = {
    session,
    model: info,
    keyColumns: ["id"],
    outputs: ["probabilities"],
    progress: false as const,
  };
  const out1 = path.join(dir, "ids-1.jsonl");
  await scoreFiles({ ...base, inputs: [text, nums], output: out1 });
  assert.deepEqual(
    rowsOf(await readBatches(out1), ["id"]).map((r) => r[0]),
    ["a7", "7", "8"],
  );
  const out2 = path.join(dir, "ids-2.parquet");
  await scoreFiles({
    ...base,
    columns: ["x0", "x1", "x2", "x3", "x4", "x5"],
    inputs: [pq, nums],
    output: out2,
  });
  assert.deepEqual(
    rowsOf(await readBatches(out2), ["id"]).map((r) => r[0]),
    [1000n, 1001n, 1002n, 7n, 8n],
  );
  await assert.rejects(
    scoreFiles({ ...base, inputs: [nums, text], output: path.join(dir, "ids-3.jsonl") }),
    (e: Error & { code?: string }) =>
      e.code === "E_PIPELINE_SCHEMA" && e.message.startsWith(`${text}: key column "id" is utf8`),
  );
  // numbers that the output's type cannot hold exactly are refused too (they wrapped or rounded silently)
  const huge = path.join(dir, "ids-huge.csv");
  const snowflake = path.join(dir, "ids-snowflake.csv");
  fs.writeFileSync(huge, `${header}\n${row("1e19")}\n`);
  fs.writeFileSync(snowflake, `${header}\n${row("9007199254740993")}\n`);
  const columns = ["x0", "x1", "x2", "x3", "x4", "x5"];
  for (const [inputs, file, why] of [
    [[pq, huge], huge, /is float64 here but int64 .*does not fit in int64/],
    [[nums, snowflake], snowflake, /is int64 here but float64 .*9007199254740993 does not fit/],
  ] as const) {
    await assert.rejects(
      scoreFiles({ ...base, columns, inputs, output: path.join(dir, "ids-4.jsonl"), overwrite: true }),
      (e: Error & { code?: string }) =>
        e.code === "E_PIPELINE_SCHEMA" &&
        e.message.startsWith(`${file}: key column "id"`) &&
        why.test(e.message),
    );
  }
});

test("zero-padded CSV features (hours 00..23) are numbers; key codes with leading zeros (007) stay text", async () => {
  const header = `code,${Array.from({ length: F }, (_, f) => `x${f}`).join(",")}`;
  const lines = Array.from({ length: 24 }, (_, h) => {
    const feats = Array.from({ length: F }, (_, f) =>
      f === 0 ? String(h).padStart(2, "0") : String(f / 10),
    );
    return `${String(h + 1).padStart(3, "0")},${feats.join(",")}`;
  });
  const input = path.join(dir, "hours.csv");
  fs.writeFileSync(input, `${header}\n${lines.join("\n")}\n`);
  const output = path.join(dir, "hours.jsonl");
  const s = await scoreFiles({
    session,
    model: info,
    inputs: [input],
    output,
    keyColumns: ["code"],
    progress: false,
  });
  assert.deepEqual([s.rowsScored, s.rowsRejected], [24, 0]);
  assert.deepEqual(
    rowsOf(await readBatches(output), ["code"]).map((r) => r[0]),
    lines.map((l) => l.slice(0, 3)),
  );
});

test("an output path that is one of the inputs is refused, even with overwrite (the input was replaced by its scores)", async () => {
  const { input } = await writeSample("self.csv", "csv", 20);
  const before = fs.readFileSync(input);
  const link = path.join(dir, "self-link.csv");
  fs.symlinkSync(input, link);
  for (const output of [input, link]) {
    await assert.rejects(
      scoreFiles({ ...mlpOptions(input, output), overwrite: true }),
      (e: Error & { code?: string }) =>
        e.code === "E_PIPELINE_OUTPUT_EXISTS" && /would be overwritten/.test(e.message),
    );
  }
  assert.deepEqual(fs.readFileSync(input), before);
});

test("a mapping that leaves a model input without columns is refused by name before scoring", async () => {
  const { GraphBuilder } = await import("../../src/onnx/index.ts");
  const g = new GraphBuilder({ name: "two", opset: 17 });
  g.input("a", "float32", ["batch", 2]);
  g.input("b", "float32", ["batch", 1]);
  g.node("Concat", ["a", "b"], ["y"], { axis: 1 });
  g.output("y", "float32", ["batch", 3]);
  const two = await openSession(g.toBytes(), { replicas: 1, intraOpThreads: 1 });
  try {
    const { input } = await writeSample("two.jsonl", "jsonl", 10);
    const base = { session: two, model: info, inputs: [input], keyColumns: ["id"], progress: false as const };
    await assert.rejects(
      scoreFiles({ ...base, output: path.join(dir, "two-out.jsonl"), mapping: { a: ["x0", "x1"] } }),
      (e: Error & { code?: string }) =>
        e.code === "E_PIPELINE_FEATURES" && /model input\(s\) "b" have no columns/.test(e.message),
    );
    const s = await scoreFiles({
      ...base,
      output: path.join(dir, "two-ok.jsonl"),
      mapping: { a: ["x0", "x1"], b: ["x2"] },
    });
    assert.equal(s.rowsScored, 10);
  } finally {
    await two.close();
  }
});

test("expandInputs: ** matches zero or more directories (files right under the folder too), sorted", async () => {
  const { expandInputs } = await import("../../src/pipeline/index.ts");
  const root = path.join(dir, "globbed");
  fs.mkdirSync(path.join(root, "sub", "deeper"), { recursive: true });
  for (const f of ["a.csv", "b.jsonl", "sub/c.csv", "sub/deeper/d.csv", "data[1].csv"])
    fs.writeFileSync(path.join(root, f), "id\n1\n");
  assert.deepEqual(
    expandInputs([`${root}/**/*.csv`]),
    ["a.csv", "data[1].csv", "sub/c.csv", "sub/deeper/d.csv"].map((f) => path.join(root, f)),
  );
  assert.deepEqual(
    expandInputs([`${root}/*.csv`]),
    ["a.csv", "data[1].csv"].map((f) => path.join(root, f)),
  );
  assert.deepEqual(
    expandInputs([`${root}/sub/**`]),
    ["sub/c.csv", "sub/deeper/d.csv"].map((f) => path.join(root, f)),
  );
  assert.deepEqual(expandInputs([path.join(root, "data[1].csv")]), [path.join(root, "data[1].csv")]);
});

test("a model with a fixed batch of 1 (static export) is fed one row per call; a fixed batch over 1 is refused by name", async () => {
  const { GraphBuilder } = await import("../../src/onnx/index.ts");
  const { tensor } = await import("../../src/tensor/index.ts");
  /** y = x · w with w[f] = f + 1: batch dim fixed (a number) or symbolic. */
  const linear = (batch: string | number) => {
    const g = new GraphBuilder({ name: "linear", opset: 17 });
    g.input("x", "float32", [batch, F]);
    const w = g.initializer(
      "w",
      tensor(
        Array.from({ length: F }, (_, f) => [f + 1]),
        "float32",
      ),
    );
    g.node("MatMul", ["x", w], ["y"]);
    g.output("y", "float32", [batch, 1]);
    return g.toBytes();
  };
  const { batch, input } = await writeSample("static.parquet", "parquet", 12);
  const one = await openSession(linear(1), { replicas: 1, intraOpThreads: 1 });
  const four = await openSession(linear(4), { replicas: 1, intraOpThreads: 1 });
  try {
    const output = path.join(dir, "static-out.parquet");
    const s = await scoreFiles(mlpOptions(input, output, one));
    assert.equal(s.rowsScored, 12);
    const got = rowsOf(await readBatches(output), ["y"]).map((r) => r[0] as number);
    for (let i = 0; i < 12; i++) {
      let want = 0;
      for (let f = 0; f < F; f++)
        want += Math.fround(Number(batch.columns.get(`x${f}`)!.values[i])) * (f + 1);
      assert.ok(Math.abs(got[i]! - want) < 1e-4, `row ${i}: ${got[i]} vs ${want}`);
    }
    await assert.rejects(
      scoreFiles({
        session: four,
        model: info,
        inputs: [input],
        output: path.join(dir, "static4.parquet"),
        progress: false,
      }),
      (e: Error & { code?: string }) =>
        e.code === "E_PIPELINE_FEATURES" && /fixed batch dimension of 4/.test(e.message),
    );
  } finally {
    await one.close();
    await four.close();
  }
});

test("a float64 model input (skl2onnx with doubles) gets the columns' float64 values unrounded", async () => {
  const { GraphBuilder } = await import("../../src/onnx/index.ts");
  const { tensor } = await import("../../src/tensor/index.ts");
  const g = new GraphBuilder({ name: "double", opset: 17 });
  g.input("x", "float64", ["batch", 2]);
  g.node("ReduceSum", ["x", g.constant(tensor([1n], "int64"), "axes")], ["s"], { keepdims: 0 });
  g.output("s", "float64", ["batch"]);
  const dbl = await openSession(g.toBytes(), { replicas: 1, intraOpThreads: 1 });
  try {
    const input = path.join(dir, "doubles.jsonl");
    const xs = [
      [0.1, 1e-12],
      [123456789.123456, 0.000001],
      [-2.5, 2.5],
    ];
    fs.writeFileSync(input, `${xs.map((x, i) => JSON.stringify({ id: i, a: x[0], b: x[1] })).join("\n")}\n`);
    const output = path.join(dir, "doubles.parquet");
    await scoreFiles(mlpOptions(input, output, dbl));
    assert.deepEqual(
      rowsOf(await readBatches(output), ["s"]).map((r) => r[0]),
      xs.map((x) => x[0]! + x[1]!),
    );
  } finally {
    await dbl.close();
  }
});

test("--outputs may name label / label_index alone: the argmax columns without the score vectors", async () => {
  const { batch, input } = await writeSample("label-only.parquet", "parquet", 40);
  const output = path.join(dir, "label-only.jsonl");
  const base = { session, model: info, inputs: [input], keyColumns: ["id"], progress: false as const };
  await scoreFiles({ ...base, output, outputs: ["label"] });
  const ref = await reference(batch);
  const rows = rowsOf(await readBatches(output), ["id", "label"]);
  assert.deepEqual(Object.keys(JSON.parse(fs.readFileSync(output, "utf8").split("\n")[0]!)), ["id", "label"]);
  for (const [i, r] of rows.entries()) {
    const p = Array.from(ref.subarray(i * 3, i * 3 + 3));
    assert.equal(r[1], LABELS[p.indexOf(Math.max(...p))], `row ${i}`);
  }
  await assert.rejects(
    scoreFiles({
      ...base,
      model: { ...info, labels: undefined },
      output: path.join(dir, "nolabels.jsonl"),
      outputs: ["label"],
    }),
    (e: Error & { code?: string }) => e.code === "E_PIPELINE_OUTPUT" && /needs class labels/.test(e.message),
  );
});
