/**
 * Models stored with ONNX external data (`model.onnx` + `model.onnx_data`, how Hugging Face / torch.onnx export
 * anything over protobuf's 2 GB limit): the optimized-model cache must work for them and follow their weights, and
 * the registry must count and watch the data file, not just the small graph file.
 */
import assert from "node:assert/strict";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { encodeModel, GraphBuilder } from "../../src/onnx/index.ts";
import { ModelRegistry, openSession, readModelHeader } from "../../src/runtime/index.ts";
import { Tensor } from "../../src/tensor/index.ts";

const ONE = { replicas: 1, intraOpThreads: 1 } as const;
const DIM = 64;

/** y = x @ W (W = scale × identity, [DIM, DIM]) with W in `<dir>/model.onnx_data`; returns the .onnx path. */
function writeExternalModel(dir: string, scale: number, mtime: number): string {
  mkdirSync(dir, { recursive: true });
  const w = new Float32Array(DIM * DIM);
  for (let i = 0; i < DIM; i++) w[i * DIM + i] = scale;
  const g = new GraphBuilder({ name: "ext", opset: 17 });
  g.input("x", "float32", ["batch", DIM]);
  g.initializer("w", Tensor.wrap(w, [DIM, DIM]));
  g.node("MatMul", ["x", "w"], ["y"]);
  g.output("y", "float32", ["batch", DIM]);
  const m = g.toModel();
  const init = m.graph!.initializer![0]!;
  const raw = init.raw_data!;
  init.raw_data = undefined;
  init.data_location = 1;
  init.external_data = [
    { key: "location", value: "model.onnx_data" },
    { key: "offset", value: "0" },
    { key: "length", value: String(raw.byteLength) },
  ];
  writeFileSync(join(dir, "model.onnx_data"), raw);
  utimesSync(join(dir, "model.onnx_data"), mtime, mtime);
  const path = join(dir, "model.onnx");
  writeFileSync(path, encodeModel(m));
  utimesSync(path, 1_600_000_000, 1_600_000_000); // model.onnx looks unchanged across re-exports: same bytes, same stamp
  return path;
}

function ones(): Tensor {
  return Tensor.wrap(new Float32Array(DIM).fill(1), [1, DIM]);
}

test("readModelHeader lists the external-data files a model's initializers name", () => {
  const dir = mkdtempSync(join(tmpdir(), "tessera-extdata-header-"));
  try {
    const path = writeExternalModel(dir, 1, 1_700_000_000);
    const bytes = new Uint8Array(readFileSync(path));
    assert.deepEqual(readModelHeader(bytes).externalData, ["model.onnx_data"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("optimized-model cache: an external-data model is cached (then reused), and new weights miss the cache", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tessera-extdata-cache-"));
  const cacheDir = join(dir, "cache");
  try {
    const path = writeExternalModel(join(dir, "m"), 2, 1_700_000_000);
    const a = await openSession(path, { ...ONE, optimizedModelCacheDir: cacheDir });
    try {
      assert.equal(a.optimizedModelCache?.hit, false);
      assert.equal((await a.run({ x: ones() })).outputs.y!.get(0, 0), 2);
    } finally {
      await a.close();
    }
    const b = await openSession(path, { ...ONE, optimizedModelCacheDir: cacheDir });
    try {
      assert.equal(b.optimizedModelCache?.hit, true, `cache dir holds ${readdirSync(cacheDir).join(", ")}`);
      assert.equal((await b.run({ x: ones() })).outputs.y!.get(0, 0), 2);
    } finally {
      await b.close();
    }
    // Re-exported weights: model.onnx is byte-identical, only model.onnx_data changed.
    writeExternalModel(join(dir, "m"), 3, 1_700_000_100);
    const c = await openSession(path, { ...ONE, optimizedModelCacheDir: cacheDir });
    try {
      assert.equal(c.optimizedModelCache?.hit, false);
      assert.equal((await c.run({ x: ones() })).outputs.y!.get(0, 0), 3);
    } finally {
      await c.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("registry: the memory budget counts external data, and a changed data file is reloaded by the watcher", async () => {
  const root = mkdtempSync(join(tmpdir(), "tessera-extdata-registry-"));
  const dataBytes = DIM * DIM * 4;
  try {
    writeExternalModel(join(root, "big", "1"), 2, 1_700_000_000);
    writeExternalModel(join(root, "other", "1"), 5, 1_700_000_000);
    // Room for one model's weights, not two: loading the second must unload the first.
    const reg = new ModelRegistry({
      root,
      sessionDefaults: ONE,
      memoryBudgetBytes: dataBytes + dataBytes / 2,
      watch: true,
      watchDebounceMs: 50,
    });
    try {
      await reg.get("big");
      await reg.get("other");
      assert.deepEqual(
        reg.status("big").map((s) => s.state),
        ["unavailable"],
        "big was not unloaded: its data file was not counted",
      );
      const reconciled = new Promise<void>((resolve) => reg.once("reconciled", () => resolve()));
      writeExternalModel(join(root, "other", "1"), 7, 1_700_000_100);
      await reconciled;
      const m = await reg.get("other");
      assert.equal((await m.session.run({ x: ones() })).outputs.y!.get(0, 0), 7);
    } finally {
      await reg.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
