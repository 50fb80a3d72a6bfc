import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ModelBatcher, predictBatch, unbatchableReason } from "../../src/batching/index.ts";
import { GraphBuilder, mlpClassifier } from "../../src/onnx/index.ts";
import { openSession, type TensorMap } from "../../src/runtime/index.ts";
import { rng, Tensor, TesseraError, tensor } from "../../src/tensor/index.ts";

const IN = 32;
const CLASSES = 5;

/** Bitwise equality of two float32 tensors (any layout). */
function assertSameBits(got: Tensor, want: Tensor, what: string): void {
  assert.deepEqual(got.shape, want.shape, `${what}: shape`);
  const g = new Uint32Array(Float32Array.from(got.contiguous().data as Float32Array).buffer);
  const w = new Uint32Array(Float32Array.from(want.contiguous().data as Float32Array).buffer);
  assert.deepEqual(g, w, `${what}: values differ`);
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<TesseraError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof TesseraError, `expected TesseraError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected rejection with ${code}`);
}

/** y = x * 2 with a symbolic sequence dim: lets requests of different lengths meet in one batch. */
function doubler(): Uint8Array {
  const g = new GraphBuilder({ name: "doubler", opset: 17 });
  g.input("x", "float32", ["batch", "seq"]);
  const two = g.initializer("two", tensor([2], "float32"));
  g.node("Mul", ["x", two], ["y"]);
  g.output("y", "float32", ["batch", "seq"]);
  return g.toBytes();
}

describe("model glue on the zoo MLP", () => {
  let session: Awaited<ReturnType<typeof openSession>>;
  const gen = rng(7);
  const row = () => gen.normal([IN], { dtype: "float32" }) as Tensor;

  before(async () => {
    const mlp = mlpClassifier({ inputDim: IN, hidden: [64, 64], classes: CLASSES, seed: 3 });
    session = await openSession(mlp.bytes, { replicas: 2, intraOpThreads: 1, label: "mlp-test" });
  });
  after(async () => {
    await session.close();
  });

  test("predictBatch equals session.run one item at a time, bit for bit, and returns views", async () => {
    const items: TensorMap[] = Array.from({ length: 37 }, () => ({ input: row() }));
    const batched = await predictBatch(session, items, { batchSize: 8 });
    assert.equal(batched.length, 37);
    for (let i = 0; i < items.length; i++) {
      const one = await session.run({ input: items[i]!.input!.unsqueeze(0) });
      for (const name of ["logits", "probabilities"]) {
        assertSameBits(batched[i]![name]!, one.outputs[name]!.select(0, 0), `item ${i} ${name}`);
      }
    }
    // Items of one chunk share the chunk's output storage: views, not copies.
    assert.equal(batched[0]!.logits!.storage, batched[7]!.logits!.storage);
    assert.notEqual(batched[0]!.logits!.storage, batched[8]!.logits!.storage);
    assert.deepEqual(batched[3]!.logits!.shape, [CLASSES]);
  });

  test("predictBatch honours outputs and accepts strided items", async () => {
    const base = gen.normal([IN, 3], { dtype: "float32" }) as Tensor;
    const items: TensorMap[] = [0, 1, 2].map((j) => ({ input: base.select(1, j) })); // non-contiguous views
    const out = await predictBatch(session, items, { batchSize: 2, outputs: ["logits"] });
    assert.deepEqual(Object.keys(out[0]!), ["logits"]);
    for (let j = 0; j < 3; j++) {
      const one = await session.run(
        { input: base.select(1, j).contiguous().unsqueeze(0) },
        { outputs: ["logits"] },
      );
      assertSameBits(out[j]!.logits!, one.outputs.logits!.select(0, 0), `strided item ${j}`);
    }
  });

  test("predictBatch reports every bad item before running", async () => {
    const good = { input: row() };
    const items: TensorMap[] = [
      good,
      { input: Tensor.empty("float32", [IN + 1]) },
      good,
      { input: Tensor.empty("int32", [IN]) },
    ];
    const err = await rejectsWith(predictBatch(session, items, { batchSize: 4 }), "E_INPUT_INVALID");
    assert.match(err.message, /items\[1\]/);
    assert.match(err.message, /items\[3\]/);
    await rejectsWith(predictBatch(session, [{ wrong: row() }], { batchSize: 4 }), "E_INPUT_INVALID");
  });

  test("ModelBatcher: concurrent multi-row requests equal one-at-a-time results bit for bit", async () => {
    const sizes: number[] = [];
    const mb = new ModelBatcher(session, {
      maxBatchSize: 16,
      maxQueueDelayMs: 5,
      maxQueueSize: 100,
      onBatch: (s) => sizes.push(s.cost),
    });
    const reqs: TensorMap[] = Array.from({ length: 30 }, (_, i) => ({
      input: gen.normal([1 + (i % 3), IN], { dtype: "float32" }) as Tensor,
    }));
    const before = [...session.dispatchCounts];
    const results = await Promise.all(reqs.map((r) => mb.infer(r)));
    const perReplica = session.dispatchCounts.map((n, i) => n - before[i]!);
    for (let i = 0; i < reqs.length; i++) {
      const one = await session.run(reqs[i]!);
      assertSameBits(results[i]!.outputs.logits!, one.outputs.logits!, `request ${i} logits`);
      assertSameBits(
        results[i]!.outputs.probabilities!,
        one.outputs.probabilities!,
        `request ${i} probabilities`,
      );
      assert.ok(results[i]!.batchSize >= reqs[i]!.input!.shape[0]! && results[i]!.batchSize <= 16);
      assert.ok(results[i]!.queueMs >= 0 && results[i]!.inferMs > 0);
    }
    assert.ok(
      sizes.some((s) => s > 3),
      `expected requests to be merged, batch rows were ${sizes.join(",")}`,
    );
    assert.ok(sizes.every((s) => s <= 16));
    // Both replicas got batches (default concurrency 2 × replicas keeps every replica busy).
    assert.ok(
      perReplica.every((n) => n > 0),
      `batches per replica: ${perReplica.join(",")}`,
    );
    // Requests of one batch get views of the same output buffer.
    const byStorage = new Set(results.map((r) => r.outputs.logits!.storage));
    assert.ok(byStorage.size < results.length);
    await mb.close();
  });

  test("ModelBatcher validates before queueing: a bad request never fails a batch", async () => {
    const mb = new ModelBatcher(session, { maxBatchSize: 8, maxQueueDelayMs: 10, maxQueueSize: 100 });
    const good = [mb.infer({ input: gen.normal([2, IN], { dtype: "float32" }) as Tensor })];
    const bad = mb.infer({ input: Tensor.empty("float32", [2, IN + 1]) });
    good.push(mb.infer({ input: gen.normal([1, IN], { dtype: "float32" }) as Tensor }));
    const err = await rejectsWith(bad, "E_INPUT_INVALID");
    assert.match(err.message, /expected 32/);
    const ok = await Promise.all(good);
    assert.deepEqual(
      ok.map((r) => r.outputs.logits!.shape),
      [
        [2, CLASSES],
        [1, CLASSES],
      ],
    );
    // Same shape as an accepted request but another dtype / an extra input: the fast path must not let it through.
    await rejectsWith(mb.infer({ input: Tensor.empty("int32", [1, IN]) }), "E_INPUT_INVALID");
    await rejectsWith(
      mb.infer({ input: Tensor.empty("float32", [1, IN]), extra: Tensor.empty("float32", [1]) }),
      "E_INPUT_INVALID",
    );
    await rejectsWith(mb.infer({ input: Tensor.empty("float32", [9, IN]) }), "E_BATCH_COST_EXCEEDED");
    await rejectsWith(mb.infer({ input: Tensor.empty("float32", [0, IN]) }), "E_INPUT_INVALID");
    await rejectsWith(
      mb.infer({ input: Tensor.empty("float32", [1, IN]) }, { outputs: ["nope"] }),
      "E_INPUT_INVALID",
    );
    await mb.close();
  });

  test("ModelBatcher: per-request output selection, abort and priority options", async () => {
    const mb = new ModelBatcher(session, { maxBatchSize: 8, maxQueueDelayMs: 20, maxQueueSize: 100 });
    const x = gen.normal([1, IN], { dtype: "float32" }) as Tensor;
    const ac = new AbortController();
    const aborted = mb.infer({ input: x }, { signal: ac.signal });
    const onlyLogits = mb.infer({ input: x }, { outputs: ["logits"], priority: "high" });
    const all = mb.infer({ input: x });
    ac.abort();
    await rejectsWith(aborted, "E_ABORTED");
    const [a, b] = await Promise.all([onlyLogits, all]);
    assert.deepEqual(Object.keys(a.outputs), ["logits"]);
    assert.deepEqual(Object.keys(b.outputs).sort(), ["logits", "probabilities"]);
    assertSameBits(a.outputs.logits!, b.outputs.logits!, "same input, same logits");
    await mb.close();
  });
});

describe("bench-shaped MLP (256→1024→1024→10)", () => {
  test("ModelBatcher results equal one-at-a-time results bit for bit at full size", async () => {
    const session = await openSession(mlpClassifier().bytes, {
      replicas: 1,
      intraOpThreads: 2,
      label: "mlp-full",
    });
    try {
      const mb = new ModelBatcher(session, { maxBatchSize: 32, maxQueueDelayMs: 5, maxQueueSize: 100 });
      const gen = rng(11);
      const reqs = Array.from({ length: 24 }, () => ({
        input: gen.normal([1, 256], { dtype: "float32" }) as Tensor,
      }));
      const out = await Promise.all(reqs.map((r) => mb.infer(r)));
      assert.ok(out.some((o) => o.batchSize > 1));
      for (let i = 0; i < reqs.length; i++) {
        const one = await session.run(reqs[i]!);
        assertSameBits(out[i]!.outputs.logits!, one.outputs.logits!, `request ${i}`);
      }
      await mb.close();
    } finally {
      await session.close();
    }
  });
});

describe("ModelBatcher with a symbolic sequence dim", () => {
  test("requests whose non-batch dims differ share a batch but run as separate groups", async () => {
    const session = await openSession(doubler(), { replicas: 1, intraOpThreads: 1, label: "doubler" });
    try {
      const mb = new ModelBatcher(session, { maxBatchSize: 16, maxQueueDelayMs: 20, maxQueueSize: 100 });
      const reqs = [
        tensor([[1, 2, 3]], "float32"),
        tensor(
          [
            [1, 2, 3, 4, 5],
            [6, 7, 8, 9, 10],
          ],
          "float32",
        ),
        tensor([[4, 5, 6]], "float32"),
      ];
      const out = await Promise.all(reqs.map((x) => mb.infer({ x })));
      assert.deepEqual(out[0]!.outputs.y!.toArray(), [[2, 4, 6]]);
      assert.deepEqual(out[1]!.outputs.y!.toArray(), [
        [2, 4, 6, 8, 10],
        [12, 14, 16, 18, 20],
      ]);
      assert.deepEqual(out[2]!.outputs.y!.toArray(), [[8, 10, 12]]);
      // The two length-3 requests were concatenated into one run of 2 rows.
      assert.equal(out[0]!.batchSize, 2);
      assert.equal(out[0]!.outputs.y!.storage, out[2]!.outputs.y!.storage);
      await mb.close();
    } finally {
      await session.close();
    }
  });
});

describe("unbatchableReason: the one rule for which models take batches", () => {
  test("a scalar input or a fixed first dim cannot be batched; ModelBatcher refuses such a model", async () => {
    const spec = (shape: (number | string)[]) => ({
      inputs: [{ name: "x", dtype: "float32" as const, shape }],
      outputs: [],
      opsets: {},
      producer: "",
      metadata: {},
      byteSize: 0,
      sha256: "",
    });
    assert.equal(unbatchableReason(spec(["batch", 4])), undefined);
    assert.match(unbatchableReason(spec([]))!.message, /scalar/);
    assert.equal(unbatchableReason(spec([2, 4]))!.dim0, 2);
    const g = new GraphBuilder({ name: "scalar", opset: 17 });
    g.input("x", "float32", []);
    g.node("Neg", ["x"], ["y"]);
    g.output("y", "float32", []);
    const session = await openSession(g.toBytes(), { replicas: 1, intraOpThreads: 1, label: "scalar" });
    try {
      assert.throws(
        () => new ModelBatcher(session, { maxBatchSize: 4, maxQueueDelayMs: 1, maxQueueSize: 8 }),
        (e: unknown) =>
          e instanceof TesseraError && e.code === "E_BATCHER_CONFIG" && /scalar/.test(e.message),
      );
    } finally {
      await session.close();
    }
  });
});
