// Serve the synthetic demo repository in-process and call it over HTTP: JSON infer, a binary (Triton)
// request and response, classification, metrics, then a graceful shutdown.
//   node --import tsx examples/server-client.ts
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeInferResponse, encodeInferRequest, startServer } from "../src/server/index.ts";

const dir = mkdtempSync(join(tmpdir(), "tessera-example-"));
const server = await startServer({
  config: { modelsDir: join(dir, "models"), demo: true, port: 0, logLevel: "warn" },
  handleSignals: false,
});
await server.app.tessera.loading;
console.log(
  `serving on ${server.url}, ready: ${(await fetch(`${server.url}/v2/health/ready`)).status === 200}`,
);

// 1. JSON: two rows, nested data
const res = await fetch(`${server.url}/v2/models/demo-mlp/infer`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({
    id: "ex-1",
    inputs: [
      {
        name: "input",
        datatype: "FP32",
        shape: [2, 4],
        data: [
          [0.1, 0.2, 0.3, 0.4],
          [1, 0, -1, 0.5],
        ],
      },
    ],
    outputs: [{ name: "probabilities" }],
  }),
});
const json = (await res.json()) as {
  id: string;
  outputs: { name: string; shape: number[]; data: number[] }[];
};
const probs = json.outputs[0]!;
console.log(
  `json: id ${json.id}, ${probs.name} ${JSON.stringify(probs.shape)}, row sums ${[0, 1]
    .map((r) =>
      probs.data
        .slice(r * 3, r * 3 + 3)
        .reduce((a, b) => a + b, 0)
        .toFixed(3),
    )
    .join(" ")}`,
);

// 2. Binary request and response (FP32 in, FP32 + BYTES classification out)
const req = encodeInferRequest({
  parameters: { binary_data_output: true },
  inputs: [
    { name: "input", datatype: "FP32", shape: [1, 4], data: Float32Array.of(1, 2, 3, 4), binary: true },
  ],
  outputs: [{ name: "logits" }, { name: "probabilities", parameters: { classification: 2 } }],
});
const bin = await fetch(`${server.url}/v2/models/demo-mlp/infer`, {
  method: "POST",
  headers: req.headers,
  body: req.body,
});
const decoded = decodeInferResponse(
  new Uint8Array(await bin.arrayBuffer()),
  bin.headers.get("inference-header-content-length") ?? undefined,
);
if (!decoded.ok) throw new Error(JSON.stringify(decoded.issues));
const [logits, top] = decoded.value.outputs;
console.log(
  `binary: ${bin.headers.get("content-type")}, logits ${logits!.data.constructor.name}(${logits!.data.length})`,
);
console.log(`top-2: ${(top!.data as Uint8Array[]).map((b) => new TextDecoder().decode(b)).join(", ")}`);

// 3. An error names the tensor and what was expected
const bad = await fetch(`${server.url}/v2/models/demo-mlp/infer`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: [1, 4], data: [1, 2, 3] }] }),
});
console.log(`bad request: ${bad.status} ${((await bad.json()) as { error: string }).error}`);

// 4. Metrics, then a graceful shutdown (what SIGTERM does)
const metrics = await (await fetch(`${server.url}/metrics`)).text();
console.log(
  `metrics: ${metrics.split("\n").filter((l) => l.startsWith("tessera_requests_total")).length} request series`,
);
console.log(`shutdown exit code: ${await server.shutdown("example done")}`);
rmSync(dir, { recursive: true, force: true });
