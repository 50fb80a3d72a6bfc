import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { GraphBuilder, mlpClassifier, multiIO, slowModel } from "../../src/onnx/index.ts";
import {
  defaultParallelism,
  type OrtSession,
  openSession,
  readModelHeader,
  validateInputs,
} from "../../src/runtime/index.ts";
import {
  add,
  f16ToF32,
  f32ToF16,
  matmul,
  relu,
  rng,
  softmax,
  Tensor,
  TesseraError,
} from "../../src/tensor/index.ts";

const ONE = { replicas: 1, intraOpThreads: 1 } as const;

function assertClose(got: Tensor, want: Tensor, tol: number): void {
  assert.deepEqual([...got.shape], [...want.shape]);
  const a = got.contiguous().data as Float32Array;
  const b = want.contiguous().data as Float32Array;
  for (let i = 0; i < a.length; i++) {
    assert.ok(
      Math.abs(a[i]! - b[i]!) <= tol * Math.max(1, Math.abs(b[i]!)),
      `element ${i}: ${a[i]} vs ${b[i]}`,
    );
  }
}

async function rejectsWith(p: Promise<unknown>, code: string, re?: RegExp): Promise<TesseraError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof TesseraError, `expected TesseraError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (re) assert.match(err.message, re);
    return err;
  }
  assert.fail(`expected rejection with ${code}`);
}

describe("openSession on an MLP classifier", () => {
  const mlp = mlpClassifier({ inputDim: 16, hidden: [32, 24], classes: 5, seed: 3 });
  let s: OrtSession;
  before(async () => {
    s = await openSession(mlp.bytes, { ...ONE, label: "mlp@1" });
  });
  after(() => s.close());

  test("outputs equal a plain tensor-op reference within 1e-5", async () => {
    const x = rng(11).normal([7, 16], { dtype: "float32" }) as Tensor;
    const { outputs, inferMs, replica } = await s.run({ input: x });
    let h: Tensor = x;
    for (let i = 0; i < 2; i++)
      h = relu(add(matmul(h, mlp.weights[`fc${i}.weight`]!), mlp.weights[`fc${i}.bias`]!));
    const logits = add(matmul(h, mlp.weights["head.weight"]!), mlp.weights["head.bias"]!);
    assertClose(outputs.logits!, logits, 1e-5);
    assertClose(outputs.probabilities!, softmax(logits, { axis: -1 }), 1e-5);
    assert.ok(inferMs >= 0);
    assert.equal(replica, 0);
    // inputs are copied by default: the caller's tensor stays usable
    assert.equal(x.size, 7 * 16);
    assert.equal((x.data as Float32Array).length, 7 * 16);
  });

  test("describe: names, dtypes, symbolic dims, opsets, producer, metadata, size, sha256", () => {
    const d = s.description;
    assert.deepEqual(d.inputs, [{ name: "input", dtype: "float32", shape: ["batch", 16] }]);
    assert.deepEqual(
      d.outputs.map((o) => [o.name, o.dtype, o.shape]),
      [
        ["logits", "float32", ["batch", 5]],
        ["probabilities", "float32", ["batch", 5]],
      ],
    );
    assert.equal(d.opsets[""], 17);
    assert.match(d.producer, /tessera/);
    assert.equal(d.metadata["tessera.zoo"], mlp.metadata["tessera.zoo"]);
    assert.equal(d.byteSize, mlp.bytes.byteLength);
    assert.equal(d.sha256, createHash("sha256").update(mlp.bytes).digest("hex"));
    assert.equal(s.activeProvider, "cpu");
    assert.deepEqual(s.providerFallbacks, []);
  });

  test("strided views, sub-views of a larger buffer and SharedArrayBuffer inputs give the same result", async () => {
    const big = rng(5).normal([20, 32], { dtype: "float32" }) as Tensor;
    const view = big.slice([2, 9], [0, 32, 2]); // [7,16] strided view into a bigger storage
    const plain = view.clone();
    const sab = new Float32Array(new SharedArrayBuffer(7 * 16 * 4));
    sab.set(plain.data as Float32Array);
    const want = (await s.run({ input: plain })).outputs.logits!;
    assertClose((await s.run({ input: view })).outputs.logits!, want, 0);
    assertClose((await s.run({ input: Tensor.wrap(sab, [7, 16]) })).outputs.logits!, want, 0);
    assert.equal(big.size, 640); // parent untouched
  });

  test("transferInputs hands the buffer over (zero copy) and detaches it in the caller", async () => {
    const x = rng(1).normal([2, 16], { dtype: "float32" }) as Tensor;
    const keep = x.clone();
    const r = await s.run({ input: x }, { transferInputs: true });
    assert.equal((x.storage as Float32Array).byteLength, 0);
    assertClose(r.outputs.logits!, (await s.run({ input: keep })).outputs.logits!, 0);
  });

  test("bad inputs are rejected before ORT with expected vs got, every issue listed", async () => {
    const good = rng(2).normal([3, 16], { dtype: "float32" }) as Tensor;
    await rejectsWith(
      s.run({ inptu: good }),
      "E_INPUT_INVALID",
      /unknown input "inptu".*missing input; expected float32\[batch,16\]/,
    );
    await rejectsWith(
      s.run({ input: Tensor.empty("float64", [3, 16]) }),
      "E_INPUT_INVALID",
      /dtype: expected float32, got float64/,
    );
    await rejectsWith(
      s.run({ input: Tensor.empty("float32", [16]) }),
      "E_INPUT_INVALID",
      /rank: expected 2 .*got 1/,
    );
    const e = await rejectsWith(
      s.run({ input: Tensor.empty("float32", [3, 15]) }),
      "E_INPUT_INVALID",
      /dim 1: expected 16 .*got 15/,
    );
    assert.equal((e.facts.issues as unknown[]).length, 1);
    await rejectsWith(s.run({ input: good }, { outputs: ["nope"] }), "E_INPUT_INVALID", /unknown output/);
    const check = validateInputs(s.description, { input: Tensor.empty("int32", [3]), extra: good });
    assert.equal(check.ok, false);
    if (!check.ok) assert.equal(check.issues.length, 3); // unknown name, dtype, rank
  });

  test("aborting before the run rejects with E_ABORTED", async () => {
    const ac = new AbortController();
    ac.abort(new Error("client went away"));
    await rejectsWith(
      s.run({ input: Tensor.empty("float32", [1, 16]) }, { signal: ac.signal }),
      "E_ABORTED",
      /client went away/,
    );
  });

  test("selected outputs only", async () => {
    const r = await s.run({ input: Tensor.empty("float32", [1, 16]) }, { outputs: ["probabilities"] });
    assert.deepEqual(Object.keys(r.outputs), ["probabilities"]);
  });
});

test("several inputs and outputs with int64, bool and float16", async () => {
  const m = multiIO();
  const s = await openSession(m.bytes, ONE);
  try {
    const half = new Uint16Array([f32ToF16(1.5), f32ToF16(-2), f32ToF16(0.25), f32ToF16(8)]);
    const r = await s.run({
      x: Tensor.wrap(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]), [2, 4]),
      ids: Tensor.wrap(new BigInt64Array([1n, 2n, 3n, 4n, 5n, 2n ** 40n]), [2, 3]),
      flag: Tensor.wrap(new Uint8Array([1, 0]), [2], "bool"),
      half: Tensor.wrap(half, [2, 2], "float16"),
    });
    assert.deepEqual([...(r.outputs.y!.data as Float32Array)], [3, 5, 7, 9, 11, 13, 15, 17]);
    assert.deepEqual(
      [...(r.outputs.ids_plus_one!.data as BigInt64Array)],
      [2n, 3n, 4n, 5n, 6n, 2n ** 40n + 1n],
    );
    assert.equal(r.outputs.not_flag!.dtype, "bool");
    assert.deepEqual([...(r.outputs.not_flag!.data as Uint8Array)], [0, 1]);
    assert.equal(r.outputs.half_doubled!.dtype, "float16");
    assert.deepEqual([...(r.outputs.half_doubled!.data as Uint16Array)].map(f16ToF32), [3, -4, 0.5, 16]);
    assert.deepEqual([...(r.outputs.x_sum!.data as Float32Array)], [10, 26]);
    // symbolic "batch" must agree across inputs
    const bad = await rejectsWith(
      s.run({
        x: Tensor.empty("float32", [2, 4]),
        ids: Tensor.empty("int64", [3, 3]),
        flag: Tensor.empty("bool", [2]),
        half: Tensor.empty("float16", [2, 2]),
      }),
      "E_INPUT_INVALID",
      /"batch".*expected 2 to match x\[0\], got 3/,
    );
    assert.equal((bad.facts.issues as unknown[]).length, 1);
  } finally {
    await s.close();
  }
});

test("ORT errors at run time are wrapped with the model label", async () => {
  const g = new GraphBuilder({ opset: 17 });
  g.input("x", "float32", ["n"]);
  g.node("Reshape", ["x", g.constant(Tensor.wrap(new BigInt64Array([2n, 2n]), [2]), "shape")], ["y"]);
  g.output("y", "float32", [2, 2]);
  const s = await openSession(g.toBytes(), { ...ONE, label: "reshaper@3" });
  try {
    const ok = await s.run({ x: Tensor.wrap(new Float32Array([1, 2, 3, 4])) });
    assert.deepEqual([...ok.outputs.y!.shape], [2, 2]);
    await rejectsWith(
      s.run({ x: Tensor.wrap(new Float32Array([1, 2, 3])) }),
      "E_ORT_RUN",
      /^reshaper@3: onnxruntime run failed/,
    );
    // the session keeps working after an ORT error
    assert.equal((await s.run({ x: Tensor.wrap(new Float32Array(4)) })).outputs.y!.size, 4);
  } finally {
    await s.close();
  }
});

test("non-ONNX, truncated and empty models fail with a reason; a missing file is E_MODEL_FILE", async () => {
  const good = mlpClassifier({ inputDim: 4, hidden: [4], classes: 2 }).bytes;
  await rejectsWith(
    openSession(new TextEncoder().encode("this is not an onnx model at all")),
    "E_MODEL_INVALID",
  );
  await rejectsWith(openSession(new Uint8Array(0)), "E_MODEL_INVALID", /empty/);
  const truncated = good.slice(0, Math.floor(good.length * 0.6));
  const err = await openSession(truncated, ONE).then(
    () => assert.fail("truncated model opened"),
    (e: unknown) => e as TesseraError,
  );
  assert.ok(["E_MODEL_INVALID", "E_SESSION_CREATE"].includes(err.code), err.message);
  assert.match(err.message, /truncated|not a valid ONNX model|onnxruntime/);
  await rejectsWith(openSession("/nonexistent/model.onnx"), "E_MODEL_FILE", /cannot read model file/);
  assert.deepEqual(readModelHeader(good).opsets, { "": 17 });
});

test("a killed worker is replaced and its in-flight request rejects with E_WORKER_DIED", async () => {
  const m = mlpClassifier({ inputDim: 8, hidden: [8], classes: 3 });
  const s = await openSession(m.bytes, ONE);
  try {
    const x = Tensor.empty("float32", [1, 8]);
    s.crashReplicaForTest(0);
    // this run is queued behind the crash message in the same worker
    await rejectsWith(s.run({ input: x }), "E_WORKER_DIED", /died \(exit code 7\)/);
    const r = await s.run({ input: x });
    assert.equal(r.outputs.logits!.size, 3);
    assert.deepEqual(s.restarts, [1]);
  } finally {
    await s.close();
  }
  await rejectsWith(s.run({ input: Tensor.empty("float32", [1, 8]) }), "E_SESSION_CLOSED");
});

test("replicas > 1 are all used and agree", async () => {
  const m = mlpClassifier({ inputDim: 32, hidden: [64], classes: 4 });
  const s = await openSession(m.bytes, { replicas: 2, intraOpThreads: 1 });
  try {
    assert.equal(s.replicas, 2);
    const x = rng(9).normal([4, 32], { dtype: "float32" }) as Tensor;
    const results = await Promise.all(Array.from({ length: 12 }, () => s.run({ input: x })));
    const used = new Set(results.map((r) => r.replica));
    assert.deepEqual([...used].sort(), [0, 1]);
    assert.ok(s.dispatchCounts.every((n) => n > 0));
    for (const r of results) assertClose(r.outputs.logits!, results[0]!.outputs.logits!, 0);
  } finally {
    await s.close();
  }
  assert.deepEqual(defaultParallelism({}, 8), { replicas: 2, intraOpThreads: 4 });
  assert.deepEqual(defaultParallelism({}, 1), { replicas: 1, intraOpThreads: 1 });
  assert.deepEqual(defaultParallelism({ replicas: 3 }, 2), { replicas: 3, intraOpThreads: 1 });
});

test("optimized-model cache file is created, then reused", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tessera-optcache-"));
  try {
    const m = mlpClassifier({ inputDim: 16, hidden: [16], classes: 3, seed: 8 });
    const x = rng(4).normal([2, 16], { dtype: "float32" }) as Tensor;
    const a = await openSession(m.bytes, { ...ONE, replicas: 2, optimizedModelCacheDir: dir });
    const ra = await a.run({ input: x });
    await a.close();
    assert.equal(a.optimizedModelCache?.hit, false);
    const files = readdirSync(dir);
    assert.equal(files.length, 1, files.join(","));
    assert.ok(existsSync(a.optimizedModelCache!.path));
    const b = await openSession(m.bytes, { ...ONE, optimizedModelCacheDir: dir });
    try {
      assert.equal(b.optimizedModelCache?.hit, true);
      assert.equal(b.optimizedModelCache?.path, a.optimizedModelCache?.path);
      assertClose((await b.run({ input: x })).outputs.logits!, ra.outputs.logits!, 1e-6);
    } finally {
      await b.close();
    }
    // different options → different cache key
    const c = await openSession(m.bytes, { ...ONE, graphOptimization: "basic", optimizedModelCacheDir: dir });
    await c.close();
    assert.equal(c.optimizedModelCache?.hit, false);
    assert.equal(readdirSync(dir).length, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a graph optimized by a fallback provider is not cached under the providers asked for", async () => {
  // cuda cannot start here, so cpu optimizes the graph: caching that file under the key of ["cuda", "cpu"] would
  // hand a CPU-optimized graph to the next start, when cuda works.
  const dir = mkdtempSync(join(tmpdir(), "tessera-optcache-fallback-"));
  try {
    const m = mlpClassifier({ inputDim: 8, hidden: [8], classes: 2, seed: 3 });
    const a = await openSession(m.bytes, { ...ONE, providers: ["cuda", "cpu"], optimizedModelCacheDir: dir });
    try {
      assert.equal(a.activeProvider, "cpu");
      assert.equal(a.optimizedModelCache?.hit, false);
      assert.deepEqual(readdirSync(dir), [], "no cache entry and no leftover temporary file");
      const x = rng(1).normal([1, 8], { dtype: "float32" }) as Tensor;
      assert.deepEqual((await a.run({ input: x })).outputs.logits!.shape, [1, 2]);
    } finally {
      await a.close();
    }
    const b = await openSession(m.bytes, { ...ONE, providers: ["cpu"], optimizedModelCacheDir: dir });
    await b.close();
    assert.equal(readdirSync(dir).length, 1, "the first-choice provider's file is cached");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a corrupt optimized-model cache file is dropped: the session starts from the model (all replicas)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tessera-optcache-bad-"));
  try {
    const m = mlpClassifier({ inputDim: 16, hidden: [16], classes: 3, seed: 9 });
    const x = rng(5).normal([2, 16], { dtype: "float32" }) as Tensor;
    const a = await openSession(m.bytes, { ...ONE, optimizedModelCacheDir: dir });
    const ra = await a.run({ input: x });
    await a.close();
    const path = a.optimizedModelCache!.path;
    writeFileSync(path, "not an onnx model");
    const b = await openSession(m.bytes, { ...ONE, replicas: 2, optimizedModelCacheDir: dir });
    try {
      assert.equal(b.optimizedModelCache?.hit, false, "the bad file was not used");
      assert.equal(b.replicas, 2);
      assertClose((await b.run({ input: x })).outputs.logits!, ra.outputs.logits!, 1e-6);
      assert.ok(!existsSync(path), "the bad file was removed");
    } finally {
      await b.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the event loop stays responsive (p99 < 20 ms) while a ~1 s inference runs; abort mid-run rejects", async () => {
  const m = slowModel({ ms: 1000, size: 256 });
  const s = await openSession(m.bytes, ONE);
  try {
    const x = rng(3).normal([4, 256], { dtype: "float32" }) as Tensor;
    /** One measurement: the loop's delays over an idle 600 ms, then over a run. */
    const measure = async () => {
      // Baseline: the same monitor over an idle stretch, so a loaded shared machine is not blamed on us.
      const idle = monitorEventLoopDelay({ resolution: 5 });
      idle.enable();
      await new Promise((r) => setTimeout(r, 600));
      idle.disable();
      const idleP99 = idle.percentile(99) / 1e6;
      const h = monitorEventLoopDelay({ resolution: 5 });
      h.enable();
      // Our own 1 ms ticker too: a blocked loop shows up as one gap as long as the run.
      let last = performance.now();
      let maxGap = 0;
      const ticker = setInterval(() => {
        const now = performance.now();
        maxGap = Math.max(maxGap, now - last);
        last = now;
      }, 1);
      const t0 = performance.now();
      const r = await s.run({ x });
      const wall = performance.now() - t0;
      await new Promise((resolve) => setTimeout(resolve, 20)); // let a stalled timer report its delay
      clearInterval(ticker);
      h.disable();
      const p99 = h.percentile(99) / 1e6;
      // Running on the main thread would stall the loop for the whole run (p99 ≈ max ≈ run time). On a
      // shared, loaded machine the idle delay is already high, so the bound scales with the idle baseline.
      const limit = Math.max(20, 3 * idleP99);
      const maxMs = h.max / 1e6;
      const facts = `p99 ${p99.toFixed(1)} ms, max ${maxMs.toFixed(1)} ms, longest tick gap ${maxGap.toFixed(1)} ms (idle p99 ${idleP99.toFixed(1)} ms) during a ${wall.toFixed(0)} ms run`;
      const ok = p99 < limit && maxMs < wall / 2 && maxGap < wall / 2;
      return { r, wall, p99, limit, maxMs, maxGap, facts, ok };
    };
    // Other work on a busy machine can stall the loop now and then (two 20 ms stalls in a second are enough to
    // move p99): a measurement that misses the bounds is taken again, up to 3 times. A run on the main thread
    // stalls the loop for the whole run every time.
    let m = await measure();
    const tries = [m.facts];
    for (let attempt = 1; attempt < 3 && !m.ok; attempt++) {
      m = await measure();
      tries.push(m.facts);
    }
    const { r, wall, p99, limit, maxMs, maxGap } = m;
    const facts = tries.join("; ");
    assert.ok(r.inferMs > 200, `slow model ran only ${r.inferMs} ms`);
    assert.ok(p99 < limit, `event-loop ${facts}`);
    assert.ok(maxMs < wall / 2 && maxGap < wall / 2, `event-loop ${facts}`);
    // abort while running: rejects promptly, the worker result is discarded, the session keeps working
    const ac = new AbortController();
    const pending = s.run({ x }, { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    const ta = performance.now();
    await rejectsWith(pending, "E_ABORTED");
    assert.ok(performance.now() - ta < r.inferMs, "abort did not reject before the run finished");
    const again = await s.run({ x });
    assert.equal(again.outputs.y!.size, 4 * 256);
  } finally {
    await s.close();
  }
});

test("an idle session does not keep the process alive (workers are unref'd between runs)", async () => {
  const { spawnSync } = await import("node:child_process");
  const script = [
    'import { openSession } from "./src/runtime/index.ts";',
    'import { mlpClassifier } from "./src/onnx/index.ts";',
    'import { Tensor } from "./src/tensor/index.ts";',
    "const s = await openSession(mlpClassifier({ inputDim: 4, hidden: [4], classes: 2 }).bytes, { replicas: 2, intraOpThreads: 1 });",
    'const r = await s.run({ input: Tensor.empty("float32", [1, 4]) });',
    'console.log("ran", r.outputs.logits.size);',
    "// no close(): the process must still exit",
  ].join("\n");
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout: 30_000,
  });
  assert.equal(r.signal, null, "the child process hung");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /ran 2/);
});

test("when a replacement worker cannot start (model file gone), runs fail with E_WORKER_DIED instead of hanging", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tessera-gone-"));
  const file = join(dir, "model.onnx");
  writeFileSync(file, mlpClassifier({ inputDim: 4, hidden: [4], classes: 2 }).bytes);
  const s = await openSession(file, ONE);
  try {
    const x = Tensor.empty("float32", [1, 4]);
    assert.equal((await s.run({ input: x })).outputs.logits!.size, 2);
    rmSync(file);
    s.crashReplicaForTest(0);
    await rejectsWith(s.run({ input: x }), "E_WORKER_DIED");
    await rejectsWith(s.run({ input: x }), "E_WORKER_DIED", /could not start|no session worker is available/);
    await rejectsWith(s.run({ input: x }), "E_WORKER_DIED", /no session worker is available/);
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
