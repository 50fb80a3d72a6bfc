/**
 * Loading a model must not stall the event loop: a server (re)loads models while it serves. The main thread reads
 * the file and hashes it (sha256, ~0.6 ms per MB here); ORT parses it in the worker.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { test } from "node:test";
import { openSession } from "../../src/runtime/index.ts";
import { Tensor } from "../../src/tensor/index.ts";

test("opening a 512 MB model keeps the event loop responsive (no long block while hashing it)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tessera-open-loop-"));
  try {
    // Written by a child process, so that freeing the builder's 1 GB of arrays cannot pause this one mid-measure.
    const path = join(dir, "model.onnx");
    const script = [
      'import { writeFileSync } from "node:fs";',
      'import { GraphBuilder } from "./src/onnx/index.ts";',
      'import { Tensor } from "./src/tensor/index.ts";',
      "const rows = 1 << 20; // table [rows, 128] float32 = 512 MiB",
      "const g = new GraphBuilder({ opset: 17 });",
      'g.input("i", "int64", ["n"]);',
      'g.initializer("table", Tensor.wrap(new Float32Array(rows * 128), [rows, 128]));',
      'g.node("Gather", ["table", "i"], ["y"], { axis: 0 });',
      'g.output("y", "float32", ["n", 128]);',
      `writeFileSync(${JSON.stringify(path)}, g.toBytes());`,
    ].join("\n");
    const w = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(w.status, 0, w.stderr);
    const h = monitorEventLoopDelay({ resolution: 5 });
    h.enable();
    const s = await openSession(path, { replicas: 1, intraOpThreads: 1 });
    h.disable();
    try {
      const maxMs = h.max / 1e6;
      // Hashing it in one piece blocked for 360-380 ms on the 2-core CI-class machine; sliced, ~40 ms typical and
      // up to 160 ms with the machine loaded by other processes. 250 ms leaves room for a busy machine.
      assert.ok(maxMs < 250, `the event loop was blocked for ${maxMs.toFixed(0)} ms while opening the model`);
      const r = await s.run({ i: Tensor.wrap(BigInt64Array.from([3n]), [1]) });
      assert.deepEqual(r.outputs.y!.shape, [1, 128]);
    } finally {
      await s.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
