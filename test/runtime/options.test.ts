import assert from "node:assert/strict";
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
