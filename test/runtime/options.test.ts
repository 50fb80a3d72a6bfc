import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { mlpClassifier } from "../../src/onnx/index.ts";
import { openSession, type SessionOptions } from "../../src/runtime/index.ts";
import { TesseraError } from "../../src/tensor/index.ts";

test("session options ORT would refuse are reported as E_OPTIONS_INVALID naming the option, not as provider failures", async () => {
  const bytes = mlpClassifier({ inputDim: 4, hidden: [4], classes: 2, seed: 0 }).bytes;
  const cases: [SessionOptions, RegExp][] = [
    [{ interOpThreads: -1 }, /interOpThreads must be a positive integer, got -1/],
    [{ interOpThreads: 1.5 }, /interOpThreads must be a positive integer, got 1\.5/],
    [
      { graphOptimization: "max" as SessionOptions["graphOptimization"] },
      /graphOptimization must be one of disabled, basic, extended, all, got "max"/,
    ],
  ];
  for (const [options, re] of cases) {
    await assert.rejects(openSession(bytes, { replicas: 1, intraOpThreads: 1, ...options }), (e: unknown) => {
      assert.ok(e instanceof TesseraError, String(e));
      assert.equal(e.code, "E_OPTIONS_INVALID", e.message);
      assert.match(e.message, re);
      return true;
    });
  }
});

test("a provider that cannot start (cuda here) is reported in providerFallbacks, not as raw ORT log lines on stderr", () => {
  const script = [
    'import { openSession } from "./src/runtime/index.ts";',
    'import { mlpClassifier } from "./src/onnx/index.ts";',
    "const s = await openSession(mlpClassifier({ inputDim: 4, hidden: [4], classes: 2 }).bytes, { replicas: 2, intraOpThreads: 1, providers: ['cuda', 'cpu'] });",
    "console.log(JSON.stringify({ active: s.activeProvider, fallbacks: s.providerFallbacks }));",
    "await s.close();",
  ].join("\n");
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { active: string; fallbacks: { provider: string; reason: string }[] };
  assert.equal(out.active, "cpu");
  assert.equal(out.fallbacks[0]?.provider, "cuda");
  assert.ok(out.fallbacks[0]!.reason.length > 0);
  // pino JSON logs of a server share stderr: ORT's own "[E:onnxruntime:...]" lines would break them
  assert.doesNotMatch(r.stderr, /onnxruntime/, r.stderr);
});

test("an optimizedModelCacheDir that cannot be created is E_OPTIONS_INVALID naming the option and the reason", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tessera-cachedir-"));
  try {
    const file = join(dir, "a-file");
    writeFileSync(file, "not a folder");
    const bytes = mlpClassifier({ inputDim: 4, hidden: [4], classes: 2, seed: 0 }).bytes;
    await assert.rejects(
      openSession(bytes, { replicas: 1, intraOpThreads: 1, optimizedModelCacheDir: join(file, "cache") }),
      (e: unknown) => {
        assert.ok(e instanceof TesseraError, String(e));
        assert.equal(e.code, "E_OPTIONS_INVALID");
        assert.match(e.message, /optimizedModelCacheDir .*a-file\/cache cannot be created: ENOTDIR/);
        return true;
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
