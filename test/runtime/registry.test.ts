import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { mlpClassifier } from "../../src/onnx/index.ts";
import {
  loadModelConfig,
  ModelRegistry,
  type ModelVersionStatus,
  parseModelConfig,
  selectVersions,
} from "../../src/runtime/index.ts";
import { Tensor, TesseraError } from "../../src/tensor/index.ts";

const SESSION = { replicas: 1, intraOpThreads: 1 } as const;

function mlpBytes(seed: number, classes = 3): Uint8Array {
  return mlpClassifier({ inputDim: 8, hidden: [8], classes, seed }).bytes;
}

function writeModel(root: string, name: string, version: string, bytes: Uint8Array): string {
  const dir = join(root, name, version);
  mkdirSync(dir, { recursive: true });
  const p = join(dir, "model.onnx");
  writeFileSync(p, bytes);
  return p;
}

function tmpRoot(): string {
  return mkdtempSync(join(tmpdir(), "tessera-registry-"));
}

async function rejectsWith(
  p: Promise<unknown> | (() => unknown),
  code: string,
  re?: RegExp,
): Promise<TesseraError> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (err) {
    assert.ok(err instanceof TesseraError, `expected TesseraError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (re) assert.match(err.message, re);
    return err;
  }
  assert.fail(`expected rejection with ${code}`);
}

const x = () => Tensor.empty("float32", [1, 8]);

describe("ModelRegistry", () => {
  let root: string;
  before(() => {
    root = tmpRoot();
    writeModel(root, "mlp", "1", mlpBytes(1));
    writeModel(root, "mlp", "2", mlpBytes(2));
    writeModel(root, "mlp", "10", mlpBytes(10, 4));
    writeModel(root, "junk", "1", new TextEncoder().encode("definitely not protobuf ~~~~"));
    writeModel(root, "truncated", "1", mlpBytes(3).slice(0, 200));
    mkdirSync(join(root, "badcfg", "1"), { recursive: true });
    writeFileSync(join(root, "badcfg", "1", "model.onnx"), mlpBytes(4));
    writeFileSync(
      join(root, "badcfg", "config.json"),
      JSON.stringify({ replicas: 0, batching: { maxBatchSize: "big" }, colour: "red" }),
    );
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test("100 concurrent first get() calls cause exactly one load", async () => {
    const reg = new ModelRegistry({ root, sessionDefaults: SESSION });
    const events: ModelVersionStatus[] = [];
    reg.on("state", (s: ModelVersionStatus) => events.push(s));
    try {
      const all = await Promise.all(Array.from({ length: 100 }, () => reg.get("mlp")));
      assert.equal(events.filter((e) => e.state === "loading").length, 1);
      assert.equal(events.filter((e) => e.state === "ready").length, 1);
      assert.ok(all.every((m) => m === all[0]));
      assert.equal(all[0]!.version, "10"); // numeric order, not string order
      const r = await all[0]!.session.run({ input: x() });
      assert.equal(r.outputs.logits!.shape[1], 4);
      assert.deepEqual(
        reg.status("mlp").map((s) => [s.version, s.state]),
        [
          ["1", "unavailable"],
          ["2", "unavailable"],
          ["10", "ready"],
        ],
      );
    } finally {
      await reg.close();
    }
  });

  test("loadAll isolates corrupt, truncated and misconfigured models; the good one serves", async () => {
    const reg = new ModelRegistry({ root, sessionDefaults: SESSION });
    try {
      await reg.loadAll();
      assert.equal(reg.isReady(), false);
      const junk = reg.status("junk")[0]!;
      assert.equal(junk.state, "failed");
      assert.match(junk.reason!, /not a valid ONNX model/);
      const trunc = reg.status("truncated")[0]!;
      assert.equal(trunc.state, "failed");
      assert.ok(trunc.reason && trunc.reason.length > 0);
      const bad = reg.status("badcfg")[0]!;
      assert.equal(bad.state, "failed");
      assert.match(bad.reason!, /replicas.*maxBatchSize.*colour|replicas/);
      await rejectsWith(reg.get("junk"), "E_MODEL_LOAD_FAILED", /junk@1 failed to load: .*not a valid ONNX/);
      await rejectsWith(reg.get("badcfg"), "E_MODEL_CONFIG_INVALID", /config.json invalid/);
      const m = await reg.get("mlp");
      assert.equal(m.description.outputs[0]!.shape[1], 4);
      assert.equal((await m.session.run({ input: x() })).outputs.logits!.size, 4);
      assert.equal(reg.tryGet("mlp").version, "10");
      await rejectsWith(() => reg.tryGet("junk"), "E_MODEL_NOT_READY", /failed/);
    } finally {
      await reg.close();
    }
  });

  test("lookup errors: invalid names, unknown models and versions", async () => {
    const reg = new ModelRegistry({ root, sessionDefaults: SESSION });
    try {
      await rejectsWith(reg.get("../etc"), "E_MODEL_NAME_INVALID");
      await rejectsWith(reg.get(".hidden"), "E_MODEL_NAME_INVALID");
      await rejectsWith(reg.get("nope"), "E_MODEL_NOT_FOUND", /not found/);
      await rejectsWith(
        reg.get("mlp", "7"),
        "E_MODEL_VERSION_NOT_FOUND",
        /does not exist; served versions: 10/,
      );
      await rejectsWith(reg.get("mlp", "1"), "E_MODEL_VERSION_NOT_FOUND", /not served by the version policy/);
      const idx = await reg.index();
      assert.deepEqual([...new Set(idx.map((s) => s.name))], ["badcfg", "junk", "mlp", "truncated"]);
    } finally {
      await reg.close();
    }
    await rejectsWith(reg.get("mlp"), "E_REGISTRY_CLOSED");
  });
});

test("version policies: all, latest n, specific (missing pins reported); reload and unload", async () => {
  const root = tmpRoot();
  const reg = new ModelRegistry({ root, sessionDefaults: SESSION });
  try {
    for (const v of ["1", "2", "3"]) writeModel(root, "m", v, mlpBytes(Number(v)));
    writeFileSync(join(root, "m", "config.json"), JSON.stringify({ versionPolicy: "all" }));
    const loaded = await reg.load("m");
    assert.deepEqual(
      loaded.map((l) => l.version),
      ["1", "2", "3"],
    );
    assert.equal(reg.isReady(), false); // not indexed yet
    await reg.index();
    assert.equal(reg.isReady(), true);
    assert.equal((await reg.get("m", "2")).version, "2");
    assert.equal((await reg.get("m")).version, "3");

    writeFileSync(join(root, "m", "config.json"), JSON.stringify({ versionPolicy: { specific: [1, 5] } }));
    await reg.load("m");
    assert.deepEqual(
      reg.status("m").map((s) => [s.version, s.state]),
      [
        ["1", "ready"],
        ["2", "unavailable"],
        ["3", "unavailable"],
        ["5", "unavailable"],
      ],
    );
    assert.match(reg.status("m")[3]!.reason!, /pinned by versionPolicy.specific/);
    assert.equal(reg.isReady(), false);

    // reload picks up a changed file: new sha256, old session closed
    writeFileSync(join(root, "m", "config.json"), JSON.stringify({ versionPolicy: { latest: 1 } }));
    await reg.load("m");
    assert.deepEqual(
      reg.status("m").map((s) => s.state),
      ["unavailable", "unavailable", "ready"],
    );
    const before = await reg.get("m");
    assert.equal(before.version, "3");
    writeModel(root, "m", "3", mlpBytes(33));
    const [after3] = await reg.load("m", "3");
    assert.notEqual(after3!.description.sha256, before.description.sha256);
    await rejectsWith(before.session.run({ input: x() }), "E_SESSION_CLOSED");
    assert.equal((await after3!.session.run({ input: x() })).outputs.logits!.size, 3);

    await reg.unload("m");
    assert.ok(reg.status("m").every((s) => s.state === "unavailable"));
    const again = await reg.get("m");
    assert.equal(again.version, "3");
  } finally {
    await reg.close();
    rmSync(root, { recursive: true, force: true });
  }
  assert.deepEqual(selectVersions({ latest: 2 }, ["9", "10", "1"]), { selected: ["9", "10"], missing: [] });
});

test("unload lets runs already queued on the session finish, then closes it", async () => {
  const root = tmpRoot();
  writeModel(root, "q", "1", mlpBytes(1));
  const reg = new ModelRegistry({ root, sessionDefaults: SESSION });
  try {
    const m = await reg.get("q");
    const runs = Array.from({ length: 20 }, () => m.session.run({ input: x() }));
    await reg.unload("q");
    const done = await Promise.all(runs);
    assert.equal(done.length, 20);
    assert.ok(done.every((r) => r.outputs.logits!.size === 3));
    assert.equal(reg.status("q")[0]!.state, "unavailable");
    await rejectsWith(m.session.run({ input: x() }), "E_SESSION_CLOSED");
  } finally {
    await reg.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test("memory budget unloads the least recently used model", async () => {
  const root = tmpRoot();
  const size = mlpBytes(1).byteLength;
  for (const n of ["a", "b", "c"]) writeModel(root, n, "1", mlpBytes(n.charCodeAt(0)));
  const reg = new ModelRegistry({
    root,
    sessionDefaults: SESSION,
    memoryBudgetBytes: Math.floor(size * 2.5),
  });
  try {
    await reg.get("a");
    await reg.get("b");
    await reg.get("a"); // a is now more recent than b
    await reg.get("c");
    assert.equal(reg.status("a")[0]!.state, "ready");
    assert.equal(reg.status("b")[0]!.state, "unavailable");
    assert.match(reg.status("b")[0]!.reason!, /memory budget/);
    assert.equal(reg.status("c")[0]!.state, "ready");
    const big = new ModelRegistry({ root, sessionDefaults: SESSION, memoryBudgetBytes: 10 });
    await rejectsWith(big.get("a"), "E_MODEL_LOAD_FAILED", /memory budget/);
    await big.close();
  } finally {
    await reg.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test("a repository root that is itself a Hugging Face folder serves that one model, named after the folder", async () => {
  // TEI users pass the model folder itself (--model-id /path); its onnx/ and 1_Pooling/ are not models.
  const parent = tmpRoot();
  const hf = join(parent, "all-MiniLM-L6-v2");
  mkdirSync(join(hf, "onnx"), { recursive: true });
  mkdirSync(join(hf, "1_Pooling"));
  writeFileSync(join(hf, "1_Pooling", "config.json"), JSON.stringify({ pooling_mode_mean_tokens: true }));
  writeFileSync(join(hf, "tokenizer.json"), "{}");
  writeFileSync(join(hf, "config.json"), JSON.stringify({ architectures: ["BertModel"], hidden_size: 8 }));
  writeFileSync(join(hf, "onnx", "model.onnx"), mlpBytes(5));
  const reg = new ModelRegistry({ root: hf, sessionDefaults: SESSION });
  try {
    const index = await reg.index();
    assert.deepEqual(
      index.map((s) => [s.name, s.version, s.state]),
      [["all-MiniLM-L6-v2", "1", "unavailable"]],
    );
    const m = await reg.get("all-MiniLM-L6-v2");
    assert.equal(m.kind, "hf");
    assert.equal(m.hfDir, hf);
    assert.equal(m.modelPath, join(hf, "onnx", "model.onnx"));
    await assert.rejects(reg.get("onnx"), { code: "E_MODEL_NOT_FOUND" });
  } finally {
    await reg.close();
    rmSync(parent, { recursive: true, force: true });
  }
});

test("Hugging Face folders: detected by tokenizer.json or named by config.json source", async () => {
  const root = tmpRoot();
  const hf = join(root, "minilm");
  mkdirSync(join(hf, "onnx"), { recursive: true });
  writeFileSync(join(hf, "tokenizer.json"), "{}");
  writeFileSync(join(hf, "config.json"), JSON.stringify({ architectures: ["BertModel"], hidden_size: 8 })); // HF's own config
  writeFileSync(join(hf, "onnx", "model.onnx"), mlpBytes(5));
  const outside = mkdtempSync(join(tmpdir(), "tessera-hf-"));
  writeFileSync(join(outside, "model.onnx"), mlpBytes(6));
  writeFileSync(join(outside, "tokenizer.json"), "{}");
  writeFileSync(join(outside, "model_quantized.onnx"), mlpBytes(7));
  mkdirSync(join(root, "pointer"));
  writeFileSync(
    join(root, "pointer", "config.json"),
    JSON.stringify({ kind: "hf", source: outside, maxTokens: 128 }),
  );
  mkdirSync(join(root, "quantized"));
  writeFileSync(
    join(root, "quantized", "config.json"),
    JSON.stringify({ kind: "hf", source: outside, variant: "quantized", autoTruncate: false }),
  );
  mkdirSync(join(root, "missing-variant"));
  writeFileSync(
    join(root, "missing-variant", "config.json"),
    JSON.stringify({ kind: "hf", source: outside, variant: "fp16" }),
  );
  const reg = new ModelRegistry({ root, sessionDefaults: SESSION });
  try {
    const a = await reg.get("minilm");
    assert.equal(a.kind, "hf");
    assert.equal(a.version, "1");
    assert.equal(a.hfDir, hf);
    assert.equal(a.modelPath, join(hf, "onnx", "model.onnx"));
    const b = await reg.get("pointer");
    assert.equal(b.kind, "hf");
    assert.equal(b.hfDir, outside);
    assert.equal(b.modelPath, join(outside, "model.onnx"));
    assert.equal(b.config.maxTokens, 128);
    const q = await reg.get("quantized");
    assert.equal(q.modelPath, join(outside, "model_quantized.onnx"));
    assert.equal(q.config.autoTruncate, false);
    assert.notEqual(q.description.sha256, b.description.sha256);
    await assert.rejects(reg.get("missing-variant"), (e: Error & { code?: string }) => {
      assert.match(e.message, /model_fp16\.onnx/);
      return true;
    });
  } finally {
    await reg.close();
    rmSync(root, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  }
});

test("watching: a changed model file is reloaded, a removed folder unloaded", async () => {
  const root = tmpRoot();
  writeModel(root, "w", "1", mlpBytes(1));
  const reg = new ModelRegistry({ root, sessionDefaults: SESSION, watch: true, watchDebounceMs: 100 });
  try {
    await reg.loadAll();
    const first = await reg.get("w");
    const reconciled = new Promise<void>((resolve) => reg.once("reconciled", () => resolve()));
    writeModel(root, "w", "1", mlpBytes(2, 5));
    await reconciled;
    const second = await reg.get("w");
    assert.notEqual(second.description.sha256, first.description.sha256);
    assert.equal(second.description.outputs[0]!.shape[1], 5);
    // a new version appears → served (policy latest)
    const next = new Promise<void>((resolve) => reg.once("reconciled", () => resolve()));
    writeModel(root, "w", "2", mlpBytes(3));
    await next;
    assert.equal((await reg.get("w")).version, "2");
    const gone = new Promise<void>((resolve) => reg.once("reconciled", () => resolve()));
    rmSync(join(root, "w"), { recursive: true, force: true });
    await gone;
    assert.deepEqual(reg.status("w"), []);
  } finally {
    await reg.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test("config.json validation reports every issue with its path", () => {
  const r = parseModelConfig({
    kind: "tflite",
    replicas: 0,
    intraOpThreads: 2.5,
    batching: { maxBatchSize: "big", maxQueueDelayMs: -1, maxQueueSize: 0, maxBatchCost: 0, extra: 1 },
    providers: ["warp-drive"],
    versionPolicy: { newest: 1 },
    inputs: { ids: 3 },
    labels: ["a", 2],
    maxTokens: -5,
    description: 7,
    colour: "red",
  });
  assert.equal(r.ok, false);
  if (r.ok) return;
  const paths = r.issues.map((i) => i.path).sort();
  assert.deepEqual(paths, [
    "batching.extra",
    "batching.maxBatchCost",
    "batching.maxBatchSize",
    "batching.maxQueueDelayMs",
    "batching.maxQueueSize",
    "colour",
    "description",
    "inputs.ids",
    "intraOpThreads",
    "kind",
    "labels[1]",
    "maxTokens",
    "providers[0]",
    "replicas",
    "versionPolicy",
  ]);
  assert.match(r.issues.find((i) => i.path === "replicas")!.message, /expected an integer in 1\.\.64, got 0/);
  const ok = parseModelConfig({
    batching: { maxBatchSize: 32, maxQueueDelayMs: 2, maxQueueSize: 1000 },
    versionPolicy: { specific: [1, 3] },
  });
  assert.ok(ok.ok);
  if (ok.ok) assert.deepEqual(ok.value.versionPolicy, { specific: [1, 3] });
  const dir = tmpRoot();
  try {
    assert.deepEqual(loadModelConfig(dir), { ok: true, value: { kind: "onnx" } });
    writeFileSync(join(dir, "config.json"), "{ not json");
    const bad = loadModelConfig(dir);
    assert.equal(bad.ok, false);
    if (!bad.ok) assert.match(bad.issues[0]!.message, /not valid JSON/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('version folders "7" and "007" name one version: "7" is served, with a warning, whatever the listing order', async () => {
  const root = tmpRoot();
  for (const [folder, seed] of [
    ["007", 1],
    ["7", 2],
    ["03", 3],
    ["003", 4],
  ] as const) {
    mkdirSync(join(root, "m", folder), { recursive: true });
    writeFileSync(join(root, "m", folder, "model.onnx"), mlpBytes(seed));
  }
  writeFileSync(join(root, "m", "config.json"), JSON.stringify({ versionPolicy: "all" }));
  const warnings: object[] = [];
  const logger = { info() {}, error() {}, warn: (o: object) => warnings.push(o) };
  const reg = new ModelRegistry({ root, sessionDefaults: SESSION, logger });
  try {
    await reg.index();
    assert.deepEqual(
      reg.status("m").map((s) => s.version),
      ["3", "7"],
    );
    const seven = await reg.get("m", "7");
    assert.equal(seven.modelPath, join(root, "m", "7", "model.onnx"));
    const three = await reg.get("m", "3");
    assert.equal(
      three.modelPath,
      join(root, "m", "003", "model.onnx"),
      "no canonical folder: the first by name",
    );
    assert.deepEqual(warnings.map((w) => (w as { serving: string }).serving).sort(), ["003", "7"]);
  } finally {
    await reg.close();
    rmSync(root, { recursive: true, force: true });
  }
});
