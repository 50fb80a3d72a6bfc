// A model repository with two versions of one model and a corrupt model: the registry loads what it
// can, reports why the rest failed, and serves the latest version.
// Run: node --import tsx examples/runtime-registry.ts
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mlpClassifier } from "../src/onnx/index.ts";
import { ModelRegistry } from "../src/runtime/index.ts";
import { Tensor } from "../src/tensor/index.ts";

const root = mkdtempSync(join(tmpdir(), "tessera-repo-"));
const put = (name: string, version: string, bytes: Uint8Array) => {
  mkdirSync(join(root, name, version), { recursive: true });
  writeFileSync(join(root, name, version, "model.onnx"), bytes);
};
put("iris", "1", mlpClassifier({ inputDim: 4, hidden: [8], classes: 3, seed: 1 }).bytes);
put("iris", "2", mlpClassifier({ inputDim: 4, hidden: [16], classes: 3, seed: 2 }).bytes);
writeFileSync(
  join(root, "iris", "config.json"),
  JSON.stringify({ labels: ["setosa", "versicolor", "virginica"] }),
);
put("broken", "1", new TextEncoder().encode("not a model"));

const registry = new ModelRegistry({ root, sessionDefaults: { replicas: 1, intraOpThreads: 1 } });
try {
  await registry.loadAll();
  for (const s of await registry.index()) {
    console.log(`${s.name}@${s.version}: ${s.state}${s.reason ? ` (${s.reason})` : ""}`);
  }
  console.log(`ready: ${registry.isReady()}`);
  const iris = await registry.get("iris");
  const { outputs } = await iris.session.run({
    input: Tensor.wrap(new Float32Array([5.1, 3.5, 1.4, 0.2]), [1, 4]),
  });
  const p = outputs.probabilities!.data as Float32Array;
  const best = p.indexOf(Math.max(...p));
  console.log(`iris@${iris.version} says ${iris.config.labels?.[best]} (p=${p[best]!.toFixed(3)})`);
} finally {
  await registry.close();
  rmSync(root, { recursive: true, force: true });
}
