// Fallback with the Vulkan driver hidden: webgpu cannot find an adapter, so the session comes up on cpu
// with the reason recorded. Runs in a child process (the loader reads VK_* at start). Needs no GPU.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { promisify } from "node:util";
import { openSession } from "../../src/runtime/index.ts";
import { mlpInput, mlpModel } from "./models.ts";

const run = promisify(execFile);
const CHILD = fileURLToPath(new URL("./fixtures/fallback-child.ts", import.meta.url));
const HIDDEN = {
  VK_DRIVER_FILES: "/nonexistent/vulkan_icd.json",
  VK_ICD_FILENAMES: "/nonexistent/vulkan_icd.json",
};

interface ChildReport {
  active: string;
  fallbacks: { provider: string; reason: string }[];
  probs: number[] | null;
  strictError: { code: string; message: string; attempts: { provider: string; reason: string }[] } | null;
}

test("webgpu without a Vulkan driver: session falls back to cpu, reason recorded, same outputs", async () => {
  const { stdout } = await run(process.execPath, ["--import", "tsx", CHILD], {
    env: { ...process.env, ...HIDDEN },
    timeout: 60_000,
  });
  const line = stdout.trim().split("\n").at(-1) ?? "";
  const report = JSON.parse(line) as ChildReport;
  assert.equal(report.active, "cpu");
  assert.equal(report.fallbacks.length, 1);
  assert.equal(report.fallbacks[0]?.provider, "webgpu");
  assert.match(report.fallbacks[0]?.reason ?? "", /adapter/i);

  const cpu = await openSession(mlpModel(), { providers: ["cpu"], replicas: 1 });
  try {
    const ref = (await cpu.run({ x: mlpInput(3) })).outputs.probs;
    assert.deepEqual(report.probs, Array.from(ref?.data as Float32Array));
  } finally {
    await cpu.close();
  }

  assert.equal(report.strictError?.code, "E_PROVIDER_UNAVAILABLE");
  assert.match(report.strictError?.message ?? "", /webgpu: .*adapter/i);
  assert.equal(report.strictError?.attempts.length, 1);
});
