/** Triton's model_configuration and statistics extensions over a real socket on 127.0.0.1. */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import { GraphBuilder, matmulModel, mlpClassifier, multiIO } from "../../src/onnx/index.ts";
import { encodeInferRequest } from "../../src/server/index.ts";
import { tensor } from "../../src/tensor/index.ts";
import { tritonDataType } from "../../src/server/routes/triton.ts";
import { LABELS, type Running, startApp, writeRepo } from "./helpers.ts";

/** x float32 [batch, n] → y float32 [batch, m, 3] = Reshape(x, [0, -1, 3]): ORT fails when n is not a multiple of 3. */
/** y = -x with a scalar input: nothing to concatenate along axis 0, so the server runs it unbatched. */
function scalarModel(): Uint8Array {
  const g = new GraphBuilder({ name: "scalar", opset: 17 });
  g.input("x", "float32", []);
  g.node("Neg", ["x"], ["y"]);
  g.output("y", "float32", []);
  return g.toBytes();
}

function reshapeModel(): Uint8Array {
  const g = new GraphBuilder({ name: "reshape3", opset: 17 });
  g.input("x", "float32", ["batch", "n"]);
  g.node("Reshape", ["x", g.constant(tensor([0n, -1n, 3n], "int64"), "target")], ["y"]);
  g.output("y", "float32", ["batch", "m", 3]);
  return g.toBytes();
}

let srv: Running;

async function get(path: string) {
  const res = await fetch(srv.url + path);
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function inferMlp(rows: number, k = 0) {
  const data = Float32Array.from({ length: rows * 8 }, (_, i) => ((i % 8) - 3) * 0.25 + k * 0.01);
  const { body, headers } = encodeInferRequest({
    inputs: [{ name: "input", datatype: "FP32", shape: [rows, 8], data }],
  });
  const res = await fetch(`${srv.url}/v2/models/mlp/infer`, { method: "POST", body, headers });
  await res.arrayBuffer();
  return res.status;
}

interface Duration {
  count: number;
  ns: number;
}
interface Stat {
  name: string;
  version: string;
  last_inference: number;
  inference_count: number;
  execution_count: number;
  inference_stats: Record<string, Duration>;
  batch_stats: {
    batch_size: number;
    compute_input: Duration;
    compute_infer: Duration;
    compute_output: Duration;
  }[];
}

async function statsOf(model: string): Promise<Stat> {
  const r = await get(`/v2/models/${model}/stats`);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const list = r.json.model_stats as Stat[];
  assert.equal(list.length, 1);
  return list[0]!;
}

before(async () => {
  srv = await startApp(
    writeRepo([
      {
        name: "mlp",
        bytes: mlpClassifier({ inputDim: 8, hidden: [16], classes: 4, seed: 1 }).bytes,
        config: {
          labels: LABELS,
          replicas: 1,
          intraOpThreads: 1,
          batching: { maxBatchSize: 64, maxQueueDelayMs: 5, maxQueueSize: 256 },
        },
      },
      { name: "multi", bytes: multiIO().bytes, config: { replicas: 1, intraOpThreads: 1 } },
      { name: "reshape", bytes: reshapeModel(), config: { replicas: 1, intraOpThreads: 1 } },
      { name: "scalar", bytes: scalarModel(), config: { replicas: 1, intraOpThreads: 1 } },
      {
        name: "fixed",
        bytes: matmulModel(2, 4, 3, { seed: 2 }).bytes,
        config: { replicas: 1, intraOpThreads: 1, versionPolicy: { specific: [1] } },
      },
    ]),
    { requestTimeoutMs: 5000 },
  );
});
after(async () => {
  await srv.close();
});

describe("GET /v2/models/{m}[/versions/{v}]/config", () => {
  test("the MLP: batched, dims without the batch dim, FP32, dynamic batching from config.json", async () => {
    const r = await get("/v2/models/mlp/config");
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const c = r.json;
    assert.equal(c.name, "mlp");
    assert.equal(c.platform, "onnxruntime_onnx");
    assert.equal(c.backend, "onnxruntime");
    assert.equal(c.max_batch_size, 64);
    assert.deepEqual(c.version_policy, { latest: { num_versions: 1 } });
    const input = c.input as Record<string, unknown>[];
    assert.deepEqual(
      input.map((i) => [i.name, i.data_type, i.dims]),
      [["input", "TYPE_FP32", [8]]],
    );
    const output = c.output as Record<string, unknown>[];
    assert.deepEqual(
      output.map((o) => [o.name, o.data_type, o.dims]),
      [
        ["logits", "TYPE_FP32", [4]],
        ["probabilities", "TYPE_FP32", [4]],
      ],
    );
    const db = c.dynamic_batching as Record<string, unknown>;
    assert.equal(db.max_queue_delay_microseconds, 5000);
    assert.equal((db.default_queue_policy as Record<string, unknown>).max_queue_size, 256);
    assert.equal(
      (db.default_queue_policy as Record<string, unknown>).default_timeout_microseconds,
      5_000_000,
    );
    const groups = c.instance_group as Record<string, unknown>[];
    assert.equal(groups.length, 1);
    assert.equal(groups[0]!.kind, "KIND_CPU");
    assert.equal(groups[0]!.count, 1);
    assert.equal(c.default_model_filename, "model.onnx");
    const params = c.parameters as Record<string, { string_value: string }>;
    assert.deepEqual(JSON.parse(params.labels!.string_value), LABELS);
    assert.equal(params.provider!.string_value, "cpu");
    // The versioned route answers the same document.
    const v = await get("/v2/models/mlp/versions/1/config");
    assert.equal(v.status, 200);
    assert.deepEqual(v.json, c);
  });

  test("several datatypes: INT64, BOOL, FP16 by Triton's TYPE_ names; a [batch] input has dims []", async () => {
    const r = await get("/v2/models/multi/config");
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.max_batch_size, 64); // the server default batcher size
    assert.deepEqual(
      (r.json.input as Record<string, unknown>[]).map((i) => [i.name, i.data_type, i.dims]),
      [
        ["x", "TYPE_FP32", [4]],
        ["ids", "TYPE_INT64", [3]],
        ["flag", "TYPE_BOOL", []],
        ["half", "TYPE_FP16", [2]],
      ],
    );
    assert.deepEqual(
      (r.json.output as Record<string, unknown>[]).map((o) => o.data_type),
      ["TYPE_FP32", "TYPE_INT64", "TYPE_BOOL", "TYPE_FP16", "TYPE_FP32"],
    );
  });

  test("BYTES is TYPE_STRING, every other datatype TYPE_<name>", () => {
    // Tessera's dtypes have no string tensor, so no loadable model has a BYTES input; the mapping is checked here.
    assert.equal(tritonDataType("BYTES"), "TYPE_STRING");
    assert.equal(tritonDataType("UINT16"), "TYPE_UINT16");
    assert.equal(tritonDataType("BF16"), "TYPE_BF16");
  });

  test("a fixed batch dim: max_batch_size 0, full dims, no dynamic_batching; version policy from config.json", async () => {
    const r = await get("/v2/models/fixed/config");
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.max_batch_size, 0);
    assert.deepEqual((r.json.input as Record<string, unknown>[])[0]!.dims, [2, 4]);
    assert.deepEqual((r.json.output as Record<string, unknown>[])[0]!.dims, [2, 3]);
    assert.equal(r.json.dynamic_batching, undefined);
    assert.deepEqual(r.json.version_policy, { specific: { versions: [1] } });
  });

  test("a scalar input: reported unbatched (max_batch_size 0) and served that way", async () => {
    const r = await get("/v2/models/scalar/config");
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.max_batch_size, 0);
    assert.deepEqual((r.json.input as Record<string, unknown>[])[0]!.dims, []);
    const res = await fetch(`${srv.url}/v2/models/scalar/infer`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ inputs: [{ name: "x", datatype: "FP32", shape: [], data: [2.5] }] }),
    });
    const body = await res.text();
    assert.equal(res.status, 200, body);
    assert.deepEqual((JSON.parse(body) as { outputs: { data: number[] }[] }).outputs[0]!.data, [-2.5]);
  });

  test("symbolic non-batch dims are -1", async () => {
    const r = await get("/v2/models/reshape/config");
    assert.deepEqual((r.json.input as Record<string, unknown>[])[0]!.dims, [-1]);
    assert.deepEqual((r.json.output as Record<string, unknown>[])[0]!.dims, [-1, 3]);
  });

  test("unknown model or version → 404 with an error; a bad name → 400", async () => {
    for (const path of ["/v2/models/nope/config", "/v2/models/mlp/versions/7/config"]) {
      const r = await get(path);
      assert.equal(r.status, 404, path);
      assert.match(String(r.json.error), /not found|does not exist/);
    }
    assert.equal((await get("/v2/models/bad..name/config")).status, 400);
  });

  test("GET /v2 lists model_configuration and statistics", async () => {
    const ext = (await get("/v2")).json.extensions as string[];
    assert.ok(ext.includes("model_configuration"));
    assert.ok(ext.includes("statistics"));
  });
});

describe("GET /v2/models[/{m}[/versions/{v}]]/stats", () => {
  test("zeros before any request, then counts that add up after concurrent infers", async () => {
    const s0 = await statsOf("mlp");
    assert.equal(s0.name, "mlp");
    assert.equal(s0.version, "1");
    assert.equal(s0.last_inference, 0);
    assert.equal(s0.inference_count, 0);
    assert.equal(s0.execution_count, 0);
    assert.deepEqual(s0.batch_stats, []);
    for (const k of ["success", "fail", "queue", "compute_input", "compute_infer", "compute_output"]) {
      assert.deepEqual(s0.inference_stats[k], { count: 0, ns: 0 }, k);
    }

    const t0 = Date.now();
    const sizes = Array.from({ length: 24 }, (_, i) => 1 + (i % 4));
    const statuses = await Promise.all(sizes.map((n, i) => inferMlp(n, i)));
    assert.deepEqual(new Set(statuses), new Set([200]));
    const rows = sizes.reduce((a, b) => a + b, 0);

    const s1 = await statsOf("mlp");
    assert.equal(s1.inference_count, rows);
    assert.ok(s1.execution_count > 0 && s1.execution_count <= sizes.length, String(s1.execution_count));
    const is = s1.inference_stats;
    assert.equal(is.success!.count, sizes.length);
    assert.ok(is.success!.ns > 0);
    assert.equal(is.fail!.count, 0);
    assert.equal(is.queue!.count, sizes.length);
    assert.equal(is.compute_infer!.count, sizes.length);
    assert.ok(is.compute_infer!.ns > 0);
    assert.deepEqual(is.compute_input, { count: sizes.length, ns: 0 });
    assert.deepEqual(is.compute_output, { count: sizes.length, ns: 0 });
    assert.ok(is.success!.ns >= is.compute_infer!.ns / sizes.length);
    // batch_stats: one row per batch size, runs add up to execution_count, rows to inference_count.
    let runs = 0;
    let batchRows = 0;
    for (const b of s1.batch_stats) {
      assert.equal(b.compute_infer.count, b.compute_input.count);
      assert.equal(b.compute_output.ns, 0);
      assert.ok(b.batch_size >= 1 && b.batch_size <= 64);
      runs += b.compute_infer.count;
      batchRows += b.batch_size * b.compute_infer.count;
    }
    assert.equal(runs, s1.execution_count);
    assert.equal(batchRows, rows);
    const sorted = s1.batch_stats.map((b) => b.batch_size);
    assert.deepEqual(
      sorted,
      [...sorted].sort((a, b) => a - b),
    );
    assert.ok(s1.last_inference >= t0 && s1.last_inference <= Date.now());

    // One more request: last_inference moves, counts grow by exactly one request of 3 rows.
    await sleep(5);
    assert.equal(await inferMlp(3), 200);
    const s2 = await statsOf("mlp");
    assert.ok(s2.last_inference > s1.last_inference);
    assert.equal(s2.inference_count, rows + 3);
    assert.equal(s2.inference_stats.success!.count, sizes.length + 1);
    assert.equal(s2.execution_count, s1.execution_count + 1);

    // The versioned route and the all-models route agree; other models stay at zero.
    const v = await get("/v2/models/mlp/versions/1/stats");
    assert.deepEqual((v.json.model_stats as Stat[])[0], s2);
    const all = (await get("/v2/models/stats")).json.model_stats as Stat[];
    assert.deepEqual(all.map((s) => s.name).sort(), ["fixed", "mlp", "multi", "reshape", "scalar"]);
    assert.deepEqual(
      all.find((s) => s.name === "mlp"),
      s2,
    );
    assert.equal(all.find((s) => s.name === "multi")!.inference_count, 0);
  });

  test("a request that fails in the model counts as fail, not success", async () => {
    const send = (n: number) =>
      fetch(`${srv.url}/v2/models/reshape/infer`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          inputs: [{ name: "x", datatype: "FP32", shape: [2, n], data: new Array(2 * n).fill(1) }],
        }),
      });
    const ok = await send(6);
    assert.equal(ok.status, 200, await ok.text());
    const bad = await send(4); // 4 values per row cannot be reshaped to [-1, 3]: ONNX Runtime fails the run
    assert.ok(bad.status >= 400, String(bad.status));
    await bad.arrayBuffer();
    const s = await statsOf("reshape");
    assert.equal(s.inference_stats.success!.count, 1);
    assert.equal(s.inference_stats.fail!.count, 1);
    assert.ok(s.inference_stats.fail!.ns > 0);
    assert.equal(s.inference_count, 2);
    assert.equal(s.execution_count, 1);
    assert.deepEqual(
      s.batch_stats.map((b) => [b.batch_size, b.compute_infer.count]),
      [[2, 1]],
    );
  });

  test("a model without a batch dim counts one inference per request, batch size 1", async () => {
    const body = JSON.stringify({
      inputs: [{ name: "a", datatype: "FP32", shape: [2, 4], data: [1, 2, 3, 4, 5, 6, 7, 8] }],
    });
    for (let i = 0; i < 2; i++) {
      const r = await fetch(`${srv.url}/v2/models/fixed/infer`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      assert.equal(r.status, 200, await r.text());
    }
    const s = await statsOf("fixed");
    assert.equal(s.inference_count, 2);
    assert.equal(s.execution_count, 2);
    assert.deepEqual(
      s.batch_stats.map((b) => [b.batch_size, b.compute_infer.count]),
      [[1, 2]],
    );
  });

  test("unknown model or version → 404; a request the route refuses is not counted", async () => {
    assert.equal((await get("/v2/models/nope/stats")).status, 404);
    assert.equal((await get("/v2/models/mlp/versions/9/stats")).status, 404);
    const before = await statsOf("multi");
    const r = await fetch(`${srv.url}/v2/models/multi/infer`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ inputs: [{ name: "x", datatype: "INT32", shape: [1, 4], data: [1, 2, 3, 4] }] }),
    });
    assert.equal(r.status, 400);
    await r.arrayBuffer();
    assert.deepEqual(await statsOf("multi"), before);
  });
});

describe("a version that is not ready", () => {
  test("config and stats answer 503 after an unload, the all-models list drops it; a reload starts at zero", async () => {
    const post = (path: string) =>
      fetch(srv.url + path, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal((await statsOf("mlp")).inference_count > 0, true);
    const un = await post("/v2/repository/models/mlp/unload");
    assert.equal(un.status, 200, await un.text());
    for (const path of ["/v2/models/mlp/config", "/v2/models/mlp/stats", "/v2/models/mlp/versions/1/stats"]) {
      const r = await get(path);
      assert.equal(r.status, 503, `${path}: ${JSON.stringify(r.json)}`);
      assert.equal(typeof r.json.error, "string");
    }
    const all = (await get("/v2/models/stats")).json.model_stats as Stat[];
    assert.ok(!all.some((s) => s.name === "mlp"));
    const load = await post("/v2/repository/models/mlp/load");
    assert.equal(load.status, 200, await load.text());
    const s = await statsOf("mlp");
    assert.equal(s.inference_count, 0);
    assert.equal(s.last_inference, 0);
  });
});
