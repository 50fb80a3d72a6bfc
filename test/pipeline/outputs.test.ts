import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { GraphBuilder } from "../../src/onnx/index.ts";
import { openSource, type RecordBatch, scoreFiles } from "../../src/pipeline/index.ts";
import { type InferenceSession, openSession } from "../../src/runtime/index.ts";
import { tensor } from "../../src/tensor/index.ts";
import { rowsOf, tmpDir } from "./helpers.ts";

const dir = tmpDir();
let session: InferenceSession;

/** x float32 [batch, 2] → the same values as float16, int64 and bool outputs (vectors and one scalar). */
function castModel(): Uint8Array {
  const g = new GraphBuilder({ name: "casts", opset: 17 });
  g.input("x", "float32", ["batch", 2]);
  g.node("Cast", ["x"], ["half"], { to: 10 });
  const axes = g.constant(tensor([1n], "int64"), "axes");
  g.node("Cast", [g.op("ReduceSum", ["x", axes], { keepdims: 0 })], ["half_sum"], { to: 10 });
  g.node("Cast", ["x"], ["ints"], { to: 7 });
  g.node("Greater", ["x", g.constant(tensor(0, "float32"), "zero")], ["positive"]);
  g.output("half", "float16", ["batch", 2]);
  g.output("half_sum", "float16", ["batch"]);
  g.output("ints", "int64", ["batch", 2]);
  g.output("positive", "bool", ["batch", 2]);
  return g.toBytes();
}

before(async () => {
  session = await openSession(castModel(), { replicas: 1, intraOpThreads: 1 });
});
after(async () => {
  await session.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function readRows(file: string): Promise<RecordBatch[]> {
  const src = await openSource(file);
  const out: RecordBatch[] = [];
  for await (const c of src.chunks()) out.push(c.batch);
  return out;
}

test("float16, int64 and bool outputs are written as their values, not their bit patterns", async () => {
  const input = path.join(dir, "in.jsonl");
  const xs = [
    [1, -2],
    [0.5, 3],
    [-4, 1024],
  ];
  fs.writeFileSync(input, `${xs.map((x, i) => JSON.stringify({ id: i, a: x[0], b: x[1] })).join("\n")}\n`);
  for (const ext of ["parquet", "jsonl"]) {
    const output = path.join(dir, `out.${ext}`);
    await scoreFiles({
      session,
      model: { name: "casts", version: "1", sha256: "x" },
      inputs: [input],
      output,
      columns: ["a", "b"],
      keyColumns: ["id"],
      progress: false,
    });
    const rows = rowsOf(await readRows(output), ["half", "half_sum", "ints", "positive"]);
    assert.deepEqual(
      rows,
      xs.map((x) => [x, x[0]! + x[1]!, x.map(Math.trunc), x.map((v) => (v > 0 ? 1 : 0))]),
      ext,
    );
  }
});

test("a row whose scores hold NaN gets a null label, not the first class", async () => {
  const { mlpClassifier } = await import("../../src/onnx/index.ts");
  const mlp = await openSession(mlpClassifier({ inputDim: 2, hidden: [4], classes: 3, seed: 1 }).bytes, {
    replicas: 1,
    intraOpThreads: 1,
  });
  try {
    const input = path.join(dir, "nan.csv");
    fs.writeFileSync(input, "id,a,b\n1,0.5,1\n2,NaN,1\n3,-1,2\n");
    const output = path.join(dir, "nan.jsonl");
    await scoreFiles({
      session: mlp,
      model: { name: "mlp", version: "1", sha256: "x", labels: ["p", "q", "r"] },
      inputs: [input],
      output,
      keyColumns: ["id"],
      progress: false,
    });
    const rows = rowsOf(await readRows(output), ["id", "label_index", "label"]);
    assert.deepEqual(
      rows.map((r) => r[0]),
      [1, 2, 3],
    );
    assert.deepEqual(rows[1], [2, null, null]);
    assert.ok(rows[0]![2] !== null && rows[2]![2] !== null);
  } finally {
    await mlp.close();
  }
});
