// Runs zoo models in a real onnxruntime-node InferenceSession and compares with the float64 references in
// reference.ts (tolerance 1e-5, |a-b| / (1 + |b|)).
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import * as ort from "onnxruntime-node";
import {
  bertEncoder,
  crossEncoder,
  decodeModel,
  GraphBuilder,
  matmulModel,
  mlpClassifier,
  multiIO,
  slowModel,
} from "../../src/onnx/index.ts";
import { f16ToF32, f32ToF16, rng, tensor } from "../../src/tensor/index.ts";
import { bertReference, dense, erf as erfRef, type Matrix, maxError, mlpReference } from "./reference.ts";

const TOL = 1e-5;
const sessions: ort.InferenceSession[] = [];
async function open(bytes: Uint8Array): Promise<ort.InferenceSession> {
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  sessions.push(s);
  return s;
}
after(async () => {
  for (const s of sessions) await s.release();
});

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  const err = maxError(actual, expected);
  assert.ok(err < TOL, `max error ${err} exceeds ${TOL}`);
}

const flat = (m: Matrix[] | Matrix): number[] =>
  (m as Matrix).flatMap((r) => (r instanceof Float64Array ? [...r] : flat(r as unknown as Matrix)));
const i64 = (rows: number[][]) =>
  new ort.Tensor("int64", BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0]!.length]);

describe("zoo models in onnxruntime-node", () => {
  test("mlpClassifier matches the float64 reference (logits and probabilities)", async () => {
    const m = mlpClassifier({ inputDim: 32, hidden: [64, 48], classes: 5, seed: 7 });
    const s = await open(m.bytes);
    assert.deepEqual(s.inputNames, ["input"]);
    assert.deepEqual(s.outputNames, ["logits", "probabilities"]);
    const x = rng(1).normal([3, 32]).contiguous().data as Float32Array;
    const out = await s.run({ input: new ort.Tensor("float32", x, [3, 32]) });
    const rows: Matrix = [0, 1, 2].map((i) => Float64Array.from(x.subarray(i * 32, i * 32 + 32)));
    const ref = mlpReference(m.weights, 2, rows);
    assert.deepEqual(out.logits!.dims, [3, 5]);
    assertClose(out.logits!.data as Float32Array, flat(ref.logits));
    assertClose(out.probabilities!.data as Float32Array, flat(ref.probabilities));
  });

  test("default mlpClassifier has the benchmark shape 256→1024→1024→10", () => {
    const info = decodeModel(mlpClassifier().bytes);
    assert.deepEqual(info.inputs[0]!.dims, ["batch", 256]);
    assert.deepEqual(
      info.initializers.map((i) => i.dims),
      [[256, 1024], [1024], [1024, 1024], [1024], [1024, 10], [10]],
    );
    assert.equal(info.metadata["tessera.synthetic"], "true");
  });

  test("bertEncoder with a padded attention mask matches the reference; padding does not leak", async () => {
    const m = bertEncoder({
      vocabSize: 50,
      hidden: 32,
      layers: 2,
      heads: 4,
      intermediate: 64,
      maxPositions: 16,
      initStd: 0.5,
      seed: 3,
    });
    const s = await open(m.bytes);
    const ids = [
      [1, 7, 9, 21, 4, 2],
      [1, 30, 2, 0, 0, 0],
    ];
    const mask = [
      [1, 1, 1, 1, 1, 1],
      [1, 1, 1, 0, 0, 0],
    ];
    const types = [
      [0, 0, 0, 1, 1, 1],
      [0, 1, 1, 0, 0, 0],
    ];
    const out = await s.run({ input_ids: i64(ids), attention_mask: i64(mask), token_type_ids: i64(types) });
    const got = out.last_hidden_state!;
    assert.deepEqual(got.dims, [2, 6, 32]);
    const ref = bertReference(m.weights, m.config, ids, mask, types);
    assertClose(
      got.data as Float32Array,
      ref.flatMap((r) => flat(r)),
    );

    // The unpadded second sentence alone gives the same first three rows as the padded batch.
    const alone = await s.run({
      input_ids: i64([ids[1]!.slice(0, 3)]),
      attention_mask: i64([[1, 1, 1]]),
      token_type_ids: i64([types[1]!.slice(0, 3)]),
    });
    const padded = (got.data as Float32Array).subarray(6 * 32, 6 * 32 + 3 * 32);
    assertClose(alone.last_hidden_state!.data as Float32Array, padded);
  });

  test("crossEncoder logits = [CLS] row of the encoder → Dense", async () => {
    const m = crossEncoder({
      vocabSize: 40,
      hidden: 16,
      layers: 1,
      heads: 2,
      intermediate: 32,
      maxPositions: 8,
      initStd: 0.3,
      seed: 5,
    });
    const s = await open(m.bytes);
    const ids = [
      [1, 5, 6, 2],
      [1, 8, 2, 0],
    ];
    const mask = [
      [1, 1, 1, 1],
      [1, 1, 1, 0],
    ];
    const types = [
      [0, 0, 1, 1],
      [0, 1, 1, 0],
    ];
    const out = await s.run({ input_ids: i64(ids), attention_mask: i64(mask), token_type_ids: i64(types) });
    assert.deepEqual(out.logits!.dims, [2, 1]);
    const hidden = bertReference(m.weights, m.config, ids, mask, types);
    const ref = dense(
      hidden.map((h) => h[0]!),
      m.weights["classifier.weight"]!,
      m.weights["classifier.bias"]!,
    );
    assertClose(out.logits!.data as Float32Array, flat(ref));
  });

  test("multiIO: float32, int64, bool and float16 inputs and outputs", async () => {
    const m = multiIO();
    const s = await open(m.bytes);
    const x = Float32Array.from([1, 2, 3, 4, -1, -2, -3, -4]);
    const half = Uint16Array.from([1.5, -2, 0.25, 1000].map(f32ToF16));
    const out = await s.run({
      x: new ort.Tensor("float32", x, [2, 4]),
      ids: new ort.Tensor("int64", BigInt64Array.from([1n, 2n, 3n, -5n, 2n ** 40n, 0n]), [2, 3]),
      flag: new ort.Tensor("bool", Uint8Array.from([1, 0]), [2]),
      half: new ort.Tensor("float16", half, [2, 2]),
    });
    assert.deepEqual([...(out.y!.data as Float32Array)], [3, 5, 7, 9, -1, -3, -5, -7]);
    assert.deepEqual([...(out.ids_plus_one!.data as BigInt64Array)], [2n, 3n, 4n, -4n, 2n ** 40n + 1n, 1n]);
    assert.equal(out.not_flag!.type, "bool");
    assert.deepEqual([...(out.not_flag!.data as Uint8Array)].map(Boolean), [false, true]);
    assert.equal(out.half_doubled!.type, "float16");
    assert.deepEqual([...(out.half_doubled!.data as Uint16Array)].map(f16ToF32), [3, -4, 0.5, 2000]);
    assert.deepEqual([...(out.x_sum!.data as Float32Array)], [10, -10]);
  });

  test("matmulModel with a symbolic batch dim", async () => {
    const m = matmulModel("batch", 8, 3, { seed: 2 });
    const s = await open(m.bytes);
    const a = rng(9).normal([5, 8]).contiguous().data as Float32Array;
    const out = await s.run({ a: new ort.Tensor("float32", a, [5, 8]) });
    const rows = [0, 1, 2, 3, 4].map((i) => Float64Array.from(a.subarray(i * 8, i * 8 + 8)));
    const ref = dense(rows, m.weights.b!, tensor([0, 0, 0]));
    assertClose(out.c!.data as Float32Array, flat(ref));
  });

  test("slowModel: a Loop subgraph that reads an outer initializer runs and is deterministic", async () => {
    const m = slowModel({ size: 16, iterations: 5 });
    assert.deepEqual(
      decodeModel(m.bytes)
        .ops.map((o) => `${o.opType}:${o.count}`)
        .sort(),
      ["Add:1", "Constant:1", "Identity:1", "Loop:1", "MatMul:2", "ReduceMean:1", "Tanh:1"],
    );
    const s = await open(m.bytes);
    const x = new ort.Tensor("float32", new Float32Array(32).fill(0.5), [2, 16]);
    const a = await s.run({ x });
    const b = await s.run({ x });
    assert.deepEqual(a.y!.dims, [2, 16]);
    assert.deepEqual(a.y!.data, b.y!.data);
    // Reference: S0 = w0 + mean(x); S <- tanh(S @ w_loop) five times; y = x @ S.
    const size = 16;
    const w0 = m.weights.w0!.data;
    const wl = m.weights.w_loop!.data;
    let S = Array.from({ length: size }, (_, i) =>
      Float64Array.from(w0.subarray(i * size, (i + 1) * size), (v) => v + 0.5),
    );
    for (let it = 0; it < 5; it++) {
      S = S.map((row) => {
        const o = new Float64Array(size);
        for (let k = 0; k < size; k++)
          for (let j = 0; j < size; j++) o[j] = o[j]! + row[k]! * wl[k * size + j]!;
        return o.map(Math.tanh);
      });
    }
    const y = new Float64Array(size);
    for (let k = 0; k < size; k++) for (let j = 0; j < size; j++) y[j] = y[j]! + 0.5 * S[k]![j]!;
    assertClose((a.y!.data as Float32Array).subarray(0, size), y);
  });

  test("com.microsoft domain nodes (Gelu, FusedMatMul) load and run in ORT", async () => {
    const g = new GraphBuilder({ name: "ms", opset: 17, domainOpsets: { "com.microsoft": 1 } });
    g.input("a", "float32", ["n", 2]);
    g.input("b", "float32", [2, 2]);
    const fused = g.op("FusedMatMul", ["a", "b"], { alpha: 2, transB: 1 }, { domain: "com.microsoft" });
    g.node("Gelu", [fused], ["y"], {}, { domain: "com.microsoft" });
    g.output("y", "float32", ["n", 2]);
    const bytes = g.toBytes();
    assert.deepEqual(decodeModel(bytes).opsets, { "": 17, "com.microsoft": 1 });
    const s = await open(bytes);
    const out = await s.run({
      a: new ort.Tensor("float32", Float32Array.from([1, 0, 0, 1]), [2, 2]),
      b: new ort.Tensor("float32", Float32Array.from([1, 2, 3, -4]), [2, 2]),
    });
    // 2 · a @ bᵀ = 2·[[1,3],[2,-4]]; gelu(z) = z·½(1+erf(z/√2)).
    const gelu = (z: number) => z * 0.5 * (1 + erfRef(z / Math.SQRT2));
    assertClose(out.y!.data as Float32Array, [2, 6, 4, -8].map(gelu));
  });
});
