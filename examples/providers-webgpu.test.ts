// Runs examples/providers-webgpu.ts as a child process: once as is, once with the Vulkan driver hidden
// (then webgpu is skipped with its reason and the model runs on cpu).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { probeProvider } from "../src/runtime/index.ts";

function runExample(env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "examples/providers-webgpu.ts"], {
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, ...env },
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test("examples/providers-webgpu.ts: the active provider is webgpu where it works, else cpu", async () => {
  const out = runExample();
  const webgpuWorks = (await probeProvider({ name: "webgpu" })) === undefined;
  assert.match(out, /^provider cpu {6}available$/m);
  assert.match(out, new RegExp(`^active provider: ${webgpuWorks ? "webgpu" : "cpu"}$`, "m"));
  assert.match(out, /last_hidden_state \[1,6,64\] in [\d.]+ ms on (webgpu|cpu)/);
  assert.match(
    out,
    /E_PROVIDER_OPTION: invalid providers: providers\[0\]\.options\.enableGraphCapture: unknown webgpu option/,
  );
});

test("examples/providers-webgpu.ts with the Vulkan driver hidden: falls back to cpu and says why", () => {
  const out = runExample({
    VK_DRIVER_FILES: "/nonexistent/icd.json",
    VK_ICD_FILENAMES: "/nonexistent/icd.json",
  });
  assert.match(out, /^provider webgpu {3}unavailable \(.*adapter.*\)$/m);
  assert.match(out, /^active provider: cpu$/m);
  assert.match(out, /^skipped webgpu: Failed to get a WebGPU adapter/m);
  assert.match(out, /last_hidden_state \[1,6,64\] in [\d.]+ ms on cpu/);
});
