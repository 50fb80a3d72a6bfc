// Readiness after explicit unloads (Triton strict readiness): only the models that are supposed to be loaded count.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { mlpClassifier } from "../../src/onnx/index.ts";
import { ModelRegistry, type ModelVersionStatus } from "../../src/runtime/index.ts";

const SESSION = { replicas: 1, intraOpThreads: 1 } as const;

function writeModel(root: string, name: string, version: string, bytes: Uint8Array): void {
  const dir = join(root, name, version);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "model.onnx"), bytes);
}

const mlp = (seed: number) => mlpClassifier({ inputDim: 4, hidden: [4], classes: 2, seed }).bytes;

test("an explicit unload takes a model out of readiness once done; loading, unloading or a failed load make it false", async () => {
  const root = mkdtempSync(join(tmpdir(), "tessera-readiness-"));
  writeModel(root, "a", "1", mlp(1));
  writeModel(root, "b", "1", mlp(2));
  writeModel(root, "b", "2", mlp(3));
  writeFileSync(join(root, "b", "config.json"), JSON.stringify({ versionPolicy: "all" }));
  const reg = new ModelRegistry({ root, sessionDefaults: SESSION });
  // isReady() as seen at each state change of b
  const seen: [string, boolean][] = [];
  reg.on("state", (s: ModelVersionStatus) => {
    if (s.name === "b") seen.push([`${s.version}:${s.state}`, reg.isReady()]);
  });
  try {
    await reg.loadAll();
    assert.equal(reg.isReady(), true);

    seen.length = 0;
    await reg.unload("b");
    // every change but the last (the second version done) leaves one version unloading
    assert.deepEqual(
      seen.map(([, ready]) => ready),
      [false, false, false, true],
    );
    assert.deepEqual(seen.map(([s]) => s.split(":")[1]).sort(), [
      "unavailable",
      "unavailable",
      "unloading",
      "unloading",
    ]);
    assert.equal(reg.isReady(), true);
    assert.deepEqual(
      reg.status("b").map((s) => [s.version, s.state, s.reason]),
      [
        ["1", "unavailable", "unloaded"],
        ["2", "unavailable", "unloaded"],
      ],
    );
    // a rescan (the repository index) does not bring it back into the count
    await reg.index();
    assert.equal(reg.isReady(), true);

    seen.length = 0;
    await reg.load("b");
    assert.ok(seen.some(([, ready]) => ready === false)); // not ready while loading
    assert.equal(reg.isReady(), true);

    // one version unloaded on its own
    await reg.unload("b", "1");
    assert.equal(reg.isReady(), true);
    assert.equal(reg.status("b")[0]!.reason, "unloaded");
    await reg.load("b");
    assert.equal(reg.status("b")[0]!.state, "ready");

    // unloaded, then a load that fails: the model is supposed to be up, so readiness is false
    await reg.unload("b");
    writeModel(root, "b", "2", new Uint8Array([1, 2, 3]));
    await assert.rejects(reg.load("b"));
    assert.equal(reg.isReady(), false);
  } finally {
    await reg.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test("a model that failed at start-up keeps readiness false until it is unloaded explicitly", async () => {
  const root = mkdtempSync(join(tmpdir(), "tessera-readiness-"));
  writeModel(root, "good", "1", mlp(1));
  writeModel(root, "bad", "1", new Uint8Array([9, 9, 9]));
  const reg = new ModelRegistry({ root, sessionDefaults: SESSION });
  try {
    await reg.loadAll();
    assert.equal(reg.isReady(), false);
    assert.equal(reg.status("bad")[0]!.state, "failed");
    await reg.unload("bad");
    assert.deepEqual(
      reg.status("bad").map((s) => [s.state, s.reason]),
      [["unavailable", "unloaded"]],
    );
    assert.equal(reg.isReady(), true);
  } finally {
    await reg.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test("watching: files of an explicitly unloaded model changing do not load it again; a load does", async () => {
  const root = mkdtempSync(join(tmpdir(), "tessera-readiness-"));
  writeModel(root, "w", "1", mlp(1));
  const reg = new ModelRegistry({ root, sessionDefaults: SESSION, watch: true, watchDebounceMs: 50 });
  try {
    await reg.loadAll();
    await reg.unload("w");
    const reconciled = new Promise<void>((resolve) => reg.once("reconciled", () => resolve()));
    writeModel(root, "w", "1", mlp(2));
    await reconciled;
    assert.deepEqual(
      reg.status("w").map((s) => [s.state, s.reason]),
      [["unavailable", "unloaded"]],
    );
    assert.equal(reg.isReady(), true);
    await reg.load("w");
    assert.equal(reg.status("w")[0]!.state, "ready");
  } finally {
    await reg.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test("watching: a change to one version's files does not load a version unloaded explicitly on its own", async () => {
  const root = mkdtempSync(join(tmpdir(), "tessera-readiness-"));
  writeModel(root, "w", "1", mlp(1));
  writeModel(root, "w", "2", mlp(2));
  writeFileSync(join(root, "w", "config.json"), JSON.stringify({ versionPolicy: "all" }));
  const reg = new ModelRegistry({ root, sessionDefaults: SESSION, watch: true, watchDebounceMs: 50 });
  try {
    await reg.loadAll();
    await reg.unload("w", "1");
    const reconciled = new Promise<void>((resolve) => reg.once("reconciled", () => resolve()));
    writeModel(root, "w", "2", mlp(3));
    await reconciled;
    assert.deepEqual(
      reg.status("w").map((s) => [s.version, s.state, s.reason]),
      [
        ["1", "unavailable", "unloaded"],
        ["2", "ready", undefined],
      ],
    );
    assert.equal(reg.isReady(), true);
    await reg.load("w", "1");
    assert.equal(reg.status("w")[0]!.state, "ready");
  } finally {
    await reg.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test("a reload of a ready model keeps readiness true: the previous load serves until the new one is ready", async () => {
  const root = mkdtempSync(join(tmpdir(), "tessera-readiness-"));
  writeModel(root, "r", "1", mlp(1));
  const reg = new ModelRegistry({ root, sessionDefaults: SESSION });
  const seen: [string, boolean][] = [];
  reg.on("state", (s: ModelVersionStatus) => seen.push([s.state, reg.isReady()]));
  try {
    await reg.loadAll();
    seen.length = 0;
    writeModel(root, "r", "1", mlp(2));
    await reg.load("r");
    assert.deepEqual(seen, [
      ["loading", true],
      ["ready", true],
    ]);
    // a reload that fails: the previous load keeps serving, still ready
    seen.length = 0;
    writeModel(root, "r", "1", new Uint8Array([1, 2, 3]));
    await assert.rejects(reg.load("r"));
    assert.deepEqual(seen, [
      ["loading", true],
      ["ready", true],
    ]);
    assert.match(reg.status("r")[0]!.reason ?? "", /reload failed/);
  } finally {
    await reg.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test("a model folder found by a later index() does not count for readiness until something loads it", async () => {
  const root = mkdtempSync(join(tmpdir(), "tessera-readiness-"));
  writeModel(root, "a", "1", mlp(1));
  const reg = new ModelRegistry({ root, sessionDefaults: SESSION });
  try {
    await reg.loadAll();
    assert.equal(reg.isReady(), true);
    writeModel(root, "late", "1", mlp(2));
    writeModel(root, "junk", "1", new Uint8Array([7, 7, 7]));
    await reg.index(); // read-only: lists them, loads nothing
    assert.deepEqual(
      ["junk", "late"].map((n) => reg.status(n)[0]!.state),
      ["unavailable", "unavailable"],
    );
    assert.equal(reg.isReady(), true);
    await reg.load("late");
    assert.equal(reg.isReady(), true);
    await assert.rejects(reg.load("junk"));
    assert.equal(reg.isReady(), false); // asked to load, failed
  } finally {
    await reg.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test("config.json broken after the load: the loaded versions keep serving and readiness stays true; the status says why", async () => {
  const root = mkdtempSync(join(tmpdir(), "tessera-readiness-"));
  writeModel(root, "c", "1", mlp(1));
  writeModel(root, "c", "2", mlp(2));
  writeFileSync(join(root, "c", "config.json"), JSON.stringify({ versionPolicy: "all" }));
  const reg = new ModelRegistry({ root, sessionDefaults: SESSION });
  try {
    await reg.loadAll();
    writeFileSync(join(root, "c", "config.json"), JSON.stringify({ versionPolicy: "all", replicas: "two" }));
    await reg.index(); // an index alone sees the broken file
    assert.equal(reg.isReady(), true);
    await assert.rejects(reg.load("c"), /config.json invalid/);
    assert.equal(reg.isReady(), true);
    for (const s of reg.status("c")) {
      assert.equal(s.state, "ready");
      assert.match(
        s.reason ?? "",
        /reload failed, still serving the previous load: config.json invalid: replicas/,
      );
    }
    assert.equal(reg.tryGet("c", "1").version, "1"); // what the server serves from
    // fixed: loads again, reason gone
    writeFileSync(join(root, "c", "config.json"), JSON.stringify({ versionPolicy: "all" }));
    await reg.load("c");
    assert.deepEqual(
      reg.status("c").map((s) => [s.state, s.reason]),
      [
        ["ready", undefined],
        ["ready", undefined],
      ],
    );
  } finally {
    await reg.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test("config.json invalid from the start: the model fails and readiness is false", async () => {
  const root = mkdtempSync(join(tmpdir(), "tessera-readiness-"));
  writeModel(root, "c", "1", mlp(1));
  writeFileSync(join(root, "c", "config.json"), JSON.stringify({ replicas: 0 }));
  const reg = new ModelRegistry({ root, sessionDefaults: SESSION });
  try {
    await reg.loadAll();
    assert.equal(reg.isReady(), false);
    assert.equal(reg.status("c")[0]!.state, "failed");
  } finally {
    await reg.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test("an unload that starts while a reload runs: not ready from the unload call until it is done, then ready", async () => {
  const root = mkdtempSync(join(tmpdir(), "tessera-readiness-"));
  writeModel(root, "r", "1", mlp(1));
  const reg = new ModelRegistry({ root, sessionDefaults: SESSION });
  const seen: [string, boolean][] = [];
  let armed = false;
  let unloading: Promise<void> | undefined;
  reg.on("state", (s: ModelVersionStatus) => {
    seen.push([s.state, reg.isReady()]);
    if (armed && s.state === "loading" && unloading === undefined) {
      // The reload is running: the unload waits for it, then closes what it loaded.
      queueMicrotask(() => {
        unloading = reg.unload("r");
        seen.push(["unload called", reg.isReady()]);
      });
    }
  });
  try {
    await reg.loadAll();
    seen.length = 0;
    armed = true;
    writeModel(root, "r", "1", mlp(2));
    await reg.load("r");
    await unloading;
    assert.deepEqual(seen, [
      ["loading", true], // a reload: the previous load serves
      ["unload called", false],
      ["ready", false], // the reload is done, the unload has not closed it yet
      ["unloading", false],
      ["unavailable", true],
    ]);
    assert.equal(reg.isReady(), true);
    assert.deepEqual(
      reg.status("r").map((s) => [s.state, s.reason]),
      [["unavailable", "unloaded"]],
    );
  } finally {
    await reg.close();
    rmSync(root, { recursive: true, force: true });
  }
});
