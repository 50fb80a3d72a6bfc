// `tessera doctor` as a child process: human and --json output, --require exit codes, hidden Vulkan driver.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { findVulkanIcds } from "../../src/cli/commands/doctor.ts";
import { webgpuSkipReason } from "./helpers.ts";

const DOCTOR = pathToFileURL(new URL("../../src/cli/commands/doctor.ts", import.meta.url).pathname).href;
const HIDDEN = {
  VK_DRIVER_FILES: "/nonexistent/vulkan_icd.json",
  VK_ICD_FILENAMES: "/nonexistent/vulkan_icd.json",
};

function doctor(
  args: string[],
  env: Record<string, string> = {},
): { status: number | null; stdout: string; stderr: string } {
  const code = `import { doctor } from ${JSON.stringify(DOCTOR)}; process.exitCode = await doctor(${JSON.stringify(args)});`;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Report {
  node: string;
  onnxruntime: string;
  providers: { name: string; bundled: boolean; available: boolean; reason?: string }[];
  vulkan: { loader: string | null; env: Record<string, string>; icds: unknown[]; adapters: string[] | null };
  missing: string[];
}

test("doctor --json with the Vulkan driver hidden: webgpu unavailable with the reason; --require webgpu exits 1", () => {
  const r = doctor(["--json", "--require", "webgpu"], HIDDEN);
  assert.equal(r.status, 1, r.stderr);
  const report = JSON.parse(r.stdout) as Report;
  assert.equal(report.node, process.version);
  assert.equal(report.onnxruntime, "1.30.0");
  const byName = new Map(report.providers.map((p) => [p.name, p]));
  assert.deepEqual(byName.get("cpu"), { name: "cpu", bundled: true, available: true });
  const webgpu = byName.get("webgpu");
  assert.equal(webgpu?.bundled, true);
  assert.equal(webgpu?.available, false);
  assert.match(webgpu?.reason ?? "", /adapter/i);
  assert.equal(byName.get("cuda")?.bundled, false);
  assert.match(byName.get("cuda")?.reason ?? "", /install-time download/);
  assert.deepEqual(report.vulkan.icds, []);
  assert.equal(report.vulkan.env.VK_DRIVER_FILES, HIDDEN.VK_DRIVER_FILES);
  assert.deepEqual(report.missing, ["webgpu"]);
});

test("doctor (text) lists providers and Vulkan drivers; --require cpu exits 0", async () => {
  const r = doctor(["--require", "cpu"]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Node {10}v20/m);
  assert.match(r.stdout, /ONNX Runtime {2}1\.30\.0/);
  assert.match(r.stdout, /^ {2}cpu {7}bundled {6}available$/m);
  const skip = await webgpuSkipReason();
  if (skip === undefined) {
    assert.match(r.stdout, /^ {2}webgpu {4}bundled {6}available$/m);
    assert.ok(findVulkanIcds().length > 0);
    assert.match(r.stdout, /driver {4}\S/);
  } else {
    assert.match(r.stdout, /^ {2}webgpu {4}bundled {6}unavailable: /m);
  }
});

test("doctor: bad flags exit 2 and name each one", () => {
  const r = doctor(["--bogus", "--require", "tpu"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--bogus: unknown flag/);
  assert.match(r.stderr, /--require: unknown provider "tpu"/);
});

test("findVulkanIcds honours VK_DRIVER_FILES", () => {
  assert.deepEqual(findVulkanIcds({ VK_DRIVER_FILES: "/nonexistent/a.json" }), []);
});
