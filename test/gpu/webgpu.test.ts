// The same model suite on the webgpu and cpu providers, outputs compared with a tolerance per dtype.
// Skips (with the reason) when no Vulkan driver lets webgpu come up; CI installs Mesa lavapipe (.ci/run).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as ort from "onnxruntime-node";
import { bertEncoder, GraphBuilder } from "../../src/onnx/index.ts";
import { openSession } from "../../src/runtime/index.ts";
import { Tensor } from "../../src/tensor/index.ts";
import { normalizeProviders, toOrtExecutionProviders } from "../../src/runtime/index.ts";
import type { InferenceSession, ProviderSpec, TensorMap } from "../../src/runtime/index.ts";
import { assertClose, webgpuSkipReason } from "./helpers.ts";
import { encoderInputs, encoderModel, mlpInput, mlpModel, SMALL_ENCODER } from "./models.ts";

const skip = await webgpuSkipReason();
const WEBGPU: ProviderSpec = { name: "webgpu" };

interface Case {
  readonly name: string;
  readonly model: () => Uint8Array;
  readonly inputs: () => TensorMap;
  readonly output: string;
}

const CASES: readonly Case[] = [
  { name: "mlp float32", model: () => mlpModel(), inputs: () => ({ x: mlpInput(5) }), output: "probs" },
  {
    name: "encoder with padding mask",
    model: () => encoderModel(),
    inputs: () => ({ ...encoderInputs(4, 12, SMALL_ENCODER.vocab) }),
    output: "last_hidden_state",
  },
  {
    // The zoo's HF-exact BERT (mask fill = float32 min, random LayerNorm gains).
    name: "zoo bertEncoder",
    model: () => bertEncoder({ layers: 2 }).bytes,
    inputs: () => ({ ...encoderInputs(3, 16, 1000) }),
    output: "last_hidden_state",
  },
  {
    name: "mlp float16",
    model: () => mlpModel("float16"),
    inputs: () => ({ x: mlpInput(5, "float16") }),
    output: "probs",
  },
];

describe("webgpu vs cpu: same models, same outputs", { skip }, () => {
  for (const c of CASES) {
    test(c.name, async () => {
      const bytes = c.model();
      const cpu = await openSession(bytes, { providers: ["cpu"], replicas: 1, label: `${c.name}@cpu` });
      const gpu = await openSession(bytes, { providers: [WEBGPU], replicas: 1, label: `${c.name}@webgpu` });
      try {
        assert.equal(gpu.activeProvider, "webgpu", `fallbacks: ${JSON.stringify(gpu.providerFallbacks)}`);
        assert.deepEqual(gpu.providerFallbacks, []);
        const inputs = c.inputs();
        const [a, b] = [await gpu.run(inputs), await cpu.run(inputs)];
        const out = a.outputs[c.output];
        const ref = b.outputs[c.output];
        assert.ok(out && ref);
        if (c.name.includes("float16")) {
          assert.equal(out.dtype, "float16");
          assert.ok(out.data instanceof Uint16Array, "float16 outputs are Uint16Array bits");
        }
        assertClose(out, ref, c.name);
      } finally {
        await Promise.all([cpu.close(), gpu.close()]);
      }
    });
  }

  test("encoder: padded positions do not change the real tokens' outputs on webgpu", async () => {
    const gpu = await openSession(encoderModel(), { providers: [WEBGPU], replicas: 1 });
    try {
      const full = encoderInputs(3, 12, SMALL_ENCODER.vocab);
      // Row 1 has length 9; run it alone, cut to its 9 real tokens.
      const len = 9;
      const one = {
        input_ids: full.input_ids.slice([1, 2], [0, len]).contiguous(),
        attention_mask: full.attention_mask.slice([1, 2], [0, len]).contiguous(),
        token_type_ids: full.token_type_ids.slice([1, 2], [0, len]).contiguous(),
      };
      const batched = (await gpu.run({ ...full })).outputs.last_hidden_state;
      const alone = (await gpu.run(one)).outputs.last_hidden_state;
      assert.ok(batched && alone);
      assertClose(alone, batched.slice([1, 2], [0, len]).contiguous(), "row 1 alone vs in a padded batch");
    } finally {
      await gpu.close();
    }
  });
});

/** Parses ORT's verbose "Node placements" report: provider → op types of the nodes placed on it. */
function placements(log: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of log.split("\n")) {
    const all = /All nodes placed on \[(\w+)\]/.exec(line);
    const some = /Node\(s\) placed on \[(\w+)\]/.exec(line);
    const node = /VerifyEachNodeIsAssignedToAnEp\] {3}(\w+) \(/.exec(line);
    if (all?.[1]) {
      out.set(all[1], ["*"]);
      current = undefined;
    } else if (some?.[1]) {
      current = [];
      out.set(some[1], current);
    } else if (node?.[1] && current) current.push(node[1]);
  }
  return out;
}

describe("node placement on webgpu (ORT's verbose log, in a child process)", { skip }, () => {
  const child = fileURLToPath(new URL("./fixtures/placement-child.ts", import.meta.url));
  const place = async (model: string) => {
    const { stderr, stdout } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", child, model],
      {
        timeout: 60_000,
        maxBuffer: 64 << 20,
      },
    );
    return placements(stderr + stdout);
  };

  test("float16 MLP: every node on WebGPU", async () => {
    const p = await place("mlp16");
    assert.deepEqual(p.get("WebGpuExecutionProvider"), ["*"], JSON.stringify([...p]));
  });

  test("encoder: all compute on WebGPU; only int64 shape arithmetic and the mask Cast on CPU", async () => {
    const p = await place("encoder");
    const cpu = p.get("CPUExecutionProvider") ?? [];
    const gpu = p.get("WebGpuExecutionProvider") ?? [];
    for (const op of cpu)
      assert.ok(["Shape", "Gather", "Range", "Unsqueeze", "Cast"].includes(op), `${op} on CPU`);
    for (const op of ["MatMul", "Softmax", "LayerNormalization", "Gather"])
      assert.ok(gpu.includes(op), `${op} on WebGPU`);
  });
});

describe("webgpu provider options reach onnxruntime", { skip }, () => {
  let probe: Uint8Array;
  before(() => {
    probe = mlpModel();
  });

  test("every option key Tessera allows is accepted by the binding", async () => {
    const spec: ProviderSpec = {
      name: "webgpu",
      options: {
        preferredLayout: "NHWC",
        validationMode: "full",
        storageBufferCacheMode: "simple",
        uniformBufferCacheMode: "lazyRelease",
        queryResolveBufferCacheMode: "disabled",
        defaultBufferCacheMode: "bucket",
        forceCpuNodeNames: "Relu_node_0,Softmax_node_0",
      },
    };
    const s = await ort.InferenceSession.create(probe, {
      executionProviders: toOrtExecutionProviders(spec),
      logSeverityLevel: 3,
    });
    const out = await s.run({ x: new ort.Tensor("float32", new Float32Array(16), [1, 16]) });
    assert.deepEqual(out.probs?.dims, [1, 4]);
    await s.release();
  });

  // deviceId is refused by the 1.30 binding for webgpu (measured), so Tessera refuses it too.
  for (const key of ["enableGraphCapture", "deviceId"]) {
    test(`${key}: refused by Tessera and by the binding`, async () => {
      assert.throws(
        () => normalizeProviders([{ name: "webgpu", options: { [key]: key === "deviceId" ? 0 : true } }]),
        /E_PROVIDER_OPTION|unknown webgpu option/,
      );
      await assert.rejects(
        ort.InferenceSession.create(probe, {
          executionProviders: [
            {
              name: "webgpu",
              [key]: key === "deviceId" ? 0 : true,
            } as ort.InferenceSession.ExecutionProviderConfig,
          ],
        }),
        /unrecognized option/,
      );
    });
  }
});

describe("two webgpu sessions at once (onnxruntime issue 32561)", { skip }, () => {
  const sessions: InferenceSession[] = [];
  after(async () => {
    await Promise.all(sessions.map((s) => s.close()));
  });

  // openSession serializes runs per device key (providers.runExclusive), so concurrent calls on two
  // webgpu sessions never overlap inside Dawn; without that, this crashes on Linux/Vulkan at times.
  test("concurrent runs on two sessions give the same results as one at a time", async () => {
    sessions.push(await openSession(mlpModel(), { providers: [WEBGPU], replicas: 1 }));
    sessions.push(await openSession(encoderModel(), { providers: [WEBGPU], replicas: 1 }));
    const [mlp, enc] = sessions as [InferenceSession, InferenceSession];
    const mlpIn = { x: mlpInput(4) };
    const encIn = { ...encoderInputs(2, 8, SMALL_ENCODER.vocab) };
    const mlpRef = (await mlp.run(mlpIn)).outputs.probs;
    const encRef = (await enc.run(encIn)).outputs.last_hidden_state;
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => (i % 2 ? enc.run(encIn) : mlp.run(mlpIn))),
    );
    results.forEach((r, i) => {
      const got = i % 2 ? r.outputs.last_hidden_state : r.outputs.probs;
      const want = i % 2 ? encRef : mlpRef;
      assert.ok(got && want);
      assertClose(got, want, `run ${i}`);
    });
  });
});

describe("replica defaults on a GPU provider", { skip }, () => {
  test("one replica by default when webgpu is active (runs are serialized per device); cpu keeps min(2, cores)", async () => {
    const gpu = await openSession(mlpModel(), { providers: [WEBGPU] });
    const cpu = await openSession(mlpModel(), { providers: ["cpu"] });
    try {
      assert.equal(gpu.activeProvider, "webgpu");
      assert.equal(gpu.replicas, 1);
      assert.equal(cpu.replicas, Math.max(1, Math.min(2, (await import("node:os")).availableParallelism())));
      const explicit = await openSession(mlpModel(), { providers: [WEBGPU], replicas: 2 });
      assert.equal(explicit.replicas, 2);
      await explicit.close();
    } finally {
      await Promise.all([gpu.close(), cpu.close()]);
    }
  });
});

describe("session start and release on a webgpu device wait for its runs (Dawn is not safe for them concurrently)", {
  skip,
}, () => {
  // A MatMul big enough to keep lavapipe busy for a while: [256,1024] × [1024,1024].
  function heavyModel(): Uint8Array {
    const g = new GraphBuilder({ name: "heavy", opset: 17 });
    g.input("x", "float32", ["batch", 1024]);
    g.initializer("w", Tensor.wrap(new Float32Array(1024 * 1024).fill(0.001), [1024, 1024]));
    g.node("MatMul", ["x", "w"], ["h"]);
    g.node("MatMul", ["h", "w"], ["y"]);
    g.output("y", "float32", ["batch", 1024]);
    return g.toBytes();
  }

  test("opening and closing another webgpu session while a run is in flight happen after the run", async () => {
    const busy = await openSession(heavyModel(), { providers: [WEBGPU], replicas: 1, label: "heavy" });
    const other = await openSession(mlpModel(), { providers: [WEBGPU], replicas: 1, label: "small" });
    try {
      assert.equal(busy.activeProvider, "webgpu");
      const x = { x: Tensor.wrap(new Float32Array(256 * 1024).fill(0.5), [256, 1024]) };
      await busy.run(x); // warm-up (shader compilation)
      const order: string[] = [];
      const run = busy.run(x).then(() => order.push("run"));
      const opened = openSession(mlpModel(), { providers: [WEBGPU], replicas: 1, label: "late" }).then(
        (s) => {
          order.push("open");
          return s;
        },
      );
      const closed = other.close().then(() => order.push("close"));
      const late = await opened;
      await Promise.all([run, closed]);
      await late.close();
      assert.equal(order[0], "run", `order: ${order.join(", ")}`);
    } finally {
      await Promise.all([busy.close(), other.close()]);
    }
  });
});
