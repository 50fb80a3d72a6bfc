/**
 * Repository layouts seen in deployments: model and version folders that are symbolic links (a Kubernetes volume
 * or ConfigMap mount, `models/bert/3 -> /mnt/releases/2024-06`), next to the plain layout.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { mlpClassifier } from "../../src/onnx/index.ts";
import { ModelRegistry } from "../../src/runtime/index.ts";
import { Tensor } from "../../src/tensor/index.ts";

const SESSION = { replicas: 1, intraOpThreads: 1 } as const;

function putModel(dir: string, seed: number): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "model.onnx"), mlpClassifier({ inputDim: 8, hidden: [8], classes: 3, seed }).bytes);
}

test("symlinked model folders and version folders are indexed and served like plain ones", async () => {
  const base = mkdtempSync(join(tmpdir(), "tessera-registry-links-"));
  const root = join(base, "repo");
  const store = join(base, "store");
  try {
    putModel(join(root, "plain", "1"), 1);
    putModel(join(store, "bert-export", "3"), 2);
    symlinkSync(join(store, "bert-export"), join(root, "linked")); // <root>/linked -> a folder elsewhere
    putModel(join(store, "releases", "2024-06"), 3);
    mkdirSync(join(root, "pinned"));
    symlinkSync(join(store, "releases", "2024-06"), join(root, "pinned", "2")); // <root>/pinned/2 -> a release
    symlinkSync(join(store, "missing"), join(root, "dangling")); // a broken link is not a model
    const reg = new ModelRegistry({ root, sessionDefaults: SESSION });
    try {
      const index = await reg.index();
      assert.deepEqual(
        index.map((s) => `${s.name}@${s.version}:${s.state}`),
        ["linked@3:unavailable", "pinned@2:unavailable", "plain@1:unavailable"],
      );
      await reg.loadAll();
      assert.ok(reg.isReady(), JSON.stringify(reg.names().flatMap((n) => reg.status(n))));
      for (const name of ["linked", "pinned", "plain"]) {
        const m = await reg.get(name);
        const r = await m.session.run({ input: Tensor.empty("float32", [1, 8]) });
        assert.equal(r.outputs.probabilities!.size, 3, name);
      }
    } finally {
      await reg.close();
    }
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test("unload of a model on disk that was never looked up is a no-op, not E_MODEL_NOT_FOUND", async () => {
  const root = mkdtempSync(join(tmpdir(), "tessera-registry-unload-"));
  try {
    putModel(join(root, "m", "1"), 1);
    const reg = new ModelRegistry({ root, sessionDefaults: SESSION });
    try {
      await reg.unload("m");
      await reg.unload("m", "1");
      assert.deepEqual(
        reg.status("m").map((s) => `${s.version}:${s.state}`),
        ["1:unavailable"],
      );
      await assert.rejects(reg.unload("absent"), /E_MODEL_NOT_FOUND|not found/);
    } finally {
      await reg.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
