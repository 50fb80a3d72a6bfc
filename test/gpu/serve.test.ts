// The server over a real socket with models on webgpu: metadata and /metrics name the active provider, a
// float16 model answers FP16 binary tensors matching the cpu provider, a bad provider option fails the model.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { openSession } from "../../src/runtime/index.ts";
import { decodeInferResponse, encodeInferRequest } from "../../src/server/index.ts";
import { Tensor } from "../../src/tensor/index.ts";
import { type Running, startApp, writeRepo } from "../server/helpers.ts";
import { assertClose, webgpuSkipReason } from "./helpers.ts";
import { mlpInput, mlpModel } from "./models.ts";

const skip = await webgpuSkipReason();
let srv: Running;

before(async () => {
  srv = await startApp(
    writeRepo([
      {
        name: "mlp16",
        bytes: mlpModel("float16"),
        config: { providers: skip ? ["cpu"] : ["webgpu"], replicas: 1 },
      },
      {
        name: "bad",
        bytes: mlpModel(),
        config: { providers: [{ name: "webgpu", options: { deviceId: 0 } }] },
      },
    ]),
  );
});
after(async () => {
  await srv.close();
});

describe("served on webgpu", { skip }, () => {
  test("model metadata and /metrics name the active provider", async () => {
    const meta = (await (await fetch(`${srv.url}/v2/models/mlp16`)).json()) as {
      properties: Record<string, string>;
    };
    assert.equal(meta.properties.provider, "webgpu");
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    assert.match(metrics, /tessera_model_provider_info\{model="mlp16",version="1",provider="webgpu"\} 1/);
  });

  test("float16 model: FP16 binary tensors in and out, equal to the cpu provider within float16 tolerance", async () => {
    const x = mlpInput(5, "float16");
    const { body, headers } = encodeInferRequest({
      parameters: { binary_data_output: true },
      inputs: [{ name: "x", datatype: "FP16", shape: [5, 16], data: x.data as Uint16Array, binary: true }],
    });
    const res = await fetch(`${srv.url}/v2/models/mlp16/infer`, {
      method: "POST",
      body,
      headers: { "content-type": "application/octet-stream", ...headers },
    });
    const buf = Buffer.from(await res.arrayBuffer());
    assert.equal(res.status, 200, buf.toString());
    const d = decodeInferResponse(buf, res.headers.get("inference-header-content-length") ?? undefined);
    assert.ok(d.ok, JSON.stringify(d));
    const out = d.value.outputs.find((o) => o.name === "probs");
    assert.equal(out?.datatype, "FP16");
    assert.ok(out?.data instanceof Uint16Array);
    const cpu = await openSession(mlpModel("float16"), { providers: ["cpu"], replicas: 1 });
    try {
      const ref = (await cpu.run({ x })).outputs.probs;
      assert.ok(ref);
      assertClose(Tensor.wrap(out.data, [5, 4], "float16"), ref, "served webgpu vs cpu");
    } finally {
      await cpu.close();
    }
  });
});

test("a provider option the binding refuses fails that model with the allowed list; others still load", async () => {
  const r = await fetch(`${srv.url}/v2/models/bad/ready`);
  assert.equal(r.status, 503);
  const text = await r.text();
  assert.match(text, /providers\[0\]\.options\.deviceId: unknown webgpu option/);
  assert.match(text, /allowed: preferredLayout, validationMode/);
  assert.equal((await fetch(`${srv.url}/v2/models/mlp16/ready`)).status, 200);
});
