/** Server readiness as a Kubernetes probe sees it while an operator works with the model repository API. */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { mlpClassifier } from "../../src/onnx/index.ts";
import { ALL_VERSIONS_CONFIG, startApp, twoVersionRepo, writeRepo } from "./helpers.ts";

test("a model folder added after start-up: the repository index lists it but readiness stays 200 until it is loaded", async () => {
  const bytes = mlpClassifier({ inputDim: 4, hidden: [4], classes: 2, seed: 0 }).bytes;
  const config = { replicas: 1, intraOpThreads: 1 };
  const srv = await startApp(writeRepo([{ name: "a", bytes, config }]));
  const ready = async () => (await fetch(`${srv.url}/v2/health/ready`)).status;
  try {
    assert.equal(await ready(), 200);
    mkdirSync(join(srv.root, "b", "1"), { recursive: true });
    writeFileSync(join(srv.root, "b", "1", "model.onnx"), bytes);
    writeFileSync(join(srv.root, "b", "config.json"), JSON.stringify(config));
    const idx = await fetch(`${srv.url}/v2/repository/index`, { method: "POST" });
    assert.deepEqual(
      ((await idx.json()) as { name: string; state: string }[]).map((m) => [m.name, m.state]),
      [
        ["a", "READY"],
        ["b", "UNAVAILABLE"],
      ],
    );
    assert.equal(await ready(), 200); // a read-only index must not take the pod out of service
    assert.equal((await fetch(`${srv.url}/v2/repository/models/b/load`, { method: "POST" })).status, 200);
    assert.equal(await ready(), 200);
    assert.equal((await fetch(`${srv.url}/v2/models/b/ready`)).status, 200);
  } finally {
    await srv.close();
  }
});

test("a reload refused for a broken config.json: the model keeps serving every version, the server stays ready", async () => {
  const srv = await startApp(twoVersionRepo());
  const body = JSON.stringify({
    inputs: [{ name: "input", datatype: "FP32", shape: [1, 4], data: [1, 2, 3, 4] }],
  });
  const infer = (path: string) =>
    fetch(`${srv.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body });
  try {
    writeFileSync(
      join(srv.root, "m", "config.json"),
      JSON.stringify({ ...ALL_VERSIONS_CONFIG, replicas: "two" }),
    );
    const load = await fetch(`${srv.url}/v2/repository/models/m/load`, { method: "POST" });
    assert.equal(load.status, 400);
    assert.match(((await load.json()) as { error: string }).error, /config.json invalid: replicas/);
    assert.equal((await fetch(`${srv.url}/v2/health/ready`)).status, 200);
    for (const path of [
      "/v2/models/m/versions/1/infer",
      "/v2/models/m/versions/2/infer",
      "/v2/models/m/infer",
    ]) {
      const r = await infer(path);
      assert.equal(r.status, 200, `${path}: ${await r.text()}`);
    }
    const idx = (await (await fetch(`${srv.url}/v2/repository/index`, { method: "POST" })).json()) as {
      version: string;
      state: string;
      reason: string;
    }[];
    assert.deepEqual(
      idx.map((s) => [s.version, s.state]),
      [
        ["1", "READY"],
        ["2", "READY"],
      ],
    );
    for (const s of idx) assert.match(s.reason, /still serving the previous load: config.json invalid/);
  } finally {
    await srv.close();
  }
});
