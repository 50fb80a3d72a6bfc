import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import { mlpClassifier } from "../../src/onnx/index.ts";
import { openSession } from "../../src/runtime/index.ts";
import { zeros } from "../../src/tensor/index.ts";

const model = mlpClassifier();

/** CPU time (all threads of this process) burnt while the event loop idles for `ms` right after a 2-thread run. */
async function idleCpuAfterRun(spinning: boolean | undefined, ms: number): Promise<number> {
  const s = await openSession(model.bytes, {
    replicas: 1,
    intraOpThreads: 2,
    ...(spinning !== undefined ? { intraOpSpinning: spinning } : {}),
  });
  try {
    const x = zeros([64, 256], "float32");
    for (let i = 0; i < 4; i++) await s.run({ input: x });
    await sleep(50); // let anything from the warm-up runs settle
    await s.run({ input: x });
    const c0 = process.cpuUsage();
    await sleep(ms);
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000;
  } finally {
    await s.close();
  }
}

test("intraOpSpinning: false stops ORT's pool threads burning CPU after a run; the default spins as ORT does", async () => {
  // Measured here: ~0.5 ms off vs 18–30 ms on over 200 ms: ORT's pool thread spin-waits after each run when on.
  // CPU time is process-wide (GC and compiler threads count) and a loaded machine deschedules the spinning threads,
  // so a pair of measurements that misses the bounds is taken again, up to 3 times: a setting that does not work
  // misses them every time.
  const seen: string[] = [];
  let off = Number.POSITIVE_INFINITY;
  let byDefault = 0;
  for (let attempt = 0; attempt < 3; attempt++) {
    off = await idleCpuAfterRun(false, 200);
    byDefault = await idleCpuAfterRun(undefined, 200);
    seen.push(`off ${off.toFixed(1)} ms, default ${byDefault.toFixed(1)} ms`);
    if (off < 10 && byDefault > off + 4) break;
  }
  const tries = seen.join("; ");
  assert.ok(off < 10, `spinning off: ${off.toFixed(1)} ms of CPU while idle, expected < 10 (${tries})`);
  assert.ok(
    byDefault > off + 4,
    `default (spinning): ${byDefault.toFixed(1)} ms of CPU while idle, expected well above off (${off.toFixed(1)} ms) (${tries})`,
  );
});
