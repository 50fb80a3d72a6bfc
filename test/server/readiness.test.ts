/** Server readiness as a Kubernetes probe sees it while an operator works with the model repository API. */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { mlpClassifier } from "../../src/onnx/index.ts";
import { startApp, writeRepo } from "./helpers.ts";

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
