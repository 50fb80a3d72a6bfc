/**
 * `tessera doctor`: what this machine can run. Prints Node, ONNX Runtime, each execution provider
 * (bundled in onnxruntime-node? does a session really come up on it? if not, why), and the Vulkan drivers
 * and adapters that the WebGPU provider (Dawn on Vulkan) can see.
 *
 *   tessera doctor                 human-readable report
 *   tessera doctor --json          the same facts as one JSON object on stdout
 *   tessera doctor --require webgpu[,cpu]   exit 1 unless each listed provider is available
 *
 * Exit codes: 0 report printed (and required providers available), 1 a required provider is unavailable,
 * 2 bad flags.
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as os from "node:os";
import { delimiter, isAbsolute, join } from "node:path";
import * as ort from "onnxruntime-node";
import { isProviderName, listProviders, type ProviderAvailability } from "../../runtime/index.ts";

/** One Vulkan installable client driver (ICD) manifest found on disk. */
export interface VulkanIcd {
  readonly manifest: string;
  readonly libraryPath: string;
  readonly apiVersion?: string;
  /** What the driver is, from its library name (e.g. "lavapipe (Mesa, software, runs on the CPU)"). */
  readonly driver: string;
  /** false when library_path is absolute and missing (a broken install). */
  readonly libraryFound: boolean;
}

export interface DoctorReport {
  readonly node: string;
  readonly platform: string;
  readonly cpus: number;
  readonly onnxruntime: string;
  readonly providers: readonly ProviderAvailability[];
  readonly vulkan: {
    /** Path of the Vulkan loader, or null when libvulkan.so.1 is missing (webgpu cannot work). */
    readonly loader: string | null;
    /** Environment variables that redirect the loader (VK_ICD_FILENAMES, VK_DRIVER_FILES). */
    readonly env: Readonly<Record<string, string>>;
    readonly icds: readonly VulkanIcd[];
    /** Device names from `vulkaninfo --summary`, or null when vulkaninfo is not installed. */
    readonly adapters: readonly string[] | null;
  };
  /** GPU device nodes present (/dev/nvidia*, /dev/dri/renderD*). */
  readonly gpuDevices: readonly string[];
}

const DRIVER_NAMES: readonly [RegExp, string][] = [
  [/lvp/, "lavapipe (Mesa, software, runs on the CPU)"],
  [/nvidia|GLX_nvidia/i, "NVIDIA proprietary"],
  [/radeon/, "RADV (Mesa, AMD)"],
  [/intel_hasvk/, "HasVK (Mesa, older Intel)"],
  [/intel/, "ANV (Mesa, Intel)"],
  [/virtio/, "Venus (Mesa, virtio-gpu)"],
  [/gfxstream/, "gfxstream (Android emulator)"],
  [/nouveau|nvk/, "NVK (Mesa, NVIDIA open)"],
  [/dzn/, "Dozen (Mesa, D3D12)"],
];

function driverName(libraryPath: string): string {
  for (const [re, name] of DRIVER_NAMES) if (re.test(libraryPath)) return name;
  return "unknown driver";
}

const ICD_DIRS = [
  "/usr/share/vulkan/icd.d",
  "/etc/vulkan/icd.d",
  "/usr/local/share/vulkan/icd.d",
  "/usr/local/etc/vulkan/icd.d",
];
const LIB_DIRS = [
  "/usr/lib/x86_64-linux-gnu",
  "/usr/lib/aarch64-linux-gnu",
  "/usr/lib64",
  "/usr/lib",
  "/usr/local/lib",
  "/lib/x86_64-linux-gnu",
];

function readIcd(manifest: string): VulkanIcd | undefined {
  try {
    const json = JSON.parse(readFileSync(manifest, "utf8")) as {
      ICD?: { library_path?: unknown; api_version?: unknown };
    };
    const lib = json.ICD?.library_path;
    if (typeof lib !== "string") return undefined;
    const api = json.ICD?.api_version;
    const found = isAbsolute(lib) ? existsSync(lib) : LIB_DIRS.some((d) => existsSync(join(d, lib)));
    return {
      manifest,
      libraryPath: lib,
      ...(typeof api === "string" ? { apiVersion: api } : {}),
      driver: driverName(lib),
      libraryFound: found,
    };
  } catch {
    return undefined;
  }
}

/** Vulkan ICD manifests, honouring VK_DRIVER_FILES / VK_ICD_FILENAMES the way the loader does. */
export function findVulkanIcds(env: NodeJS.ProcessEnv = process.env): VulkanIcd[] {
  const override = env.VK_DRIVER_FILES ?? env.VK_ICD_FILENAMES;
  let manifests: string[];
  if (override !== undefined) manifests = override.split(delimiter).filter((p) => p.length > 0);
  else {
    manifests = [];
    for (const dir of ICD_DIRS) {
      try {
        for (const f of readdirSync(dir).sort()) if (f.endsWith(".json")) manifests.push(join(dir, f));
      } catch {
        // missing folder: no drivers there
      }
    }
  }
  return manifests.map(readIcd).filter((x): x is VulkanIcd => x !== undefined);
}

function findVulkanLoader(): string | null {
  for (const d of LIB_DIRS) {
    const p = join(d, "libvulkan.so.1");
    if (existsSync(p)) return p;
  }
  return null;
}

function vulkaninfoAdapters(): Promise<string[] | null> {
  return new Promise((resolve) => {
    execFile("vulkaninfo", ["--summary"], { timeout: 10_000 }, (err, stdout) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT") return resolve(null);
      const names = [...String(stdout).matchAll(/deviceName\s*=\s*(.+)/g)].map((m) => (m[1] ?? "").trim());
      resolve(names);
    });
  });
}

function gpuDevices(): string[] {
  const out: string[] = [];
  try {
    for (const f of readdirSync("/dev")) if (/^nvidia\d+$/.test(f)) out.push(`/dev/${f}`);
  } catch {
    // no /dev listing
  }
  try {
    for (const f of readdirSync("/dev/dri")) if (f.startsWith("renderD")) out.push(`/dev/dri/${f}`);
  } catch {
    // no DRM devices
  }
  return out;
}

/** Collects the report (probes each bundled provider by creating a tiny session on it). */
export async function collectDoctorReport(): Promise<DoctorReport> {
  const env: Record<string, string> = {};
  for (const k of ["VK_DRIVER_FILES", "VK_ICD_FILENAMES", "VK_LOADER_DEBUG"]) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  const [providers, adapters] = await Promise.all([listProviders(), vulkaninfoAdapters()]);
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch} (${os.release()})`,
    cpus: os.availableParallelism(),
    onnxruntime: ort.env.versions.node ?? ort.env.versions.common,
    providers,
    vulkan: { loader: findVulkanLoader(), env, icds: findVulkanIcds(), adapters },
    gpuDevices: gpuDevices(),
  };
}

/** Renders the report as the human-readable text `tessera doctor` prints. */
export function formatDoctorReport(r: DoctorReport): string {
  const lines: string[] = [];
  lines.push(`Node          ${r.node}  ${r.platform}, ${r.cpus} CPUs`);
  lines.push(`ONNX Runtime  ${r.onnxruntime} (onnxruntime-node)`);
  lines.push("", "Execution providers:");
  for (const p of r.providers) {
    const state = p.available ? "available" : "unavailable";
    lines.push(
      `  ${p.name.padEnd(9)} ${(p.bundled ? "bundled" : "not bundled").padEnd(12)} ${state}${p.reason ? `: ${p.reason}` : ""}`,
    );
  }
  lines.push("", "Vulkan (used by webgpu):");
  lines.push(`  loader    ${r.vulkan.loader ?? "libvulkan.so.1 not found (apt-get install libvulkan1)"}`);
  for (const [k, v] of Object.entries(r.vulkan.env)) lines.push(`  env       ${k}=${v}`);
  if (r.vulkan.icds.length === 0)
    lines.push(
      "  drivers   none found (for a CPU driver: apt-get install -t bookworm-backports mesa-vulkan-drivers)",
    );
  for (const icd of r.vulkan.icds) {
    lines.push(
      `  driver    ${icd.driver}: ${icd.libraryPath}${icd.apiVersion ? `, Vulkan ${icd.apiVersion}` : ""}${icd.libraryFound ? "" : " (library missing)"}  [${icd.manifest}]`,
    );
  }
  if (r.vulkan.adapters === null)
    lines.push("  adapters  vulkaninfo not installed (apt-get install vulkan-tools to list adapters)");
  else if (r.vulkan.adapters.length === 0) lines.push("  adapters  none reported by vulkaninfo");
  else for (const a of r.vulkan.adapters) lines.push(`  adapter   ${a}`);
  lines.push(
    `  GPUs      ${r.gpuDevices.length ? r.gpuDevices.join(", ") : "no /dev/nvidia* or /dev/dri/renderD* device nodes"}`,
  );
  return lines.join("\n");
}

interface DoctorFlags {
  readonly json: boolean;
  readonly require: readonly string[];
  readonly help: boolean;
}

type FlagsResult =
  | { ok: true; value: DoctorFlags }
  | { ok: false; issues: { path: string; message: string }[] };

function parseFlags(argv: readonly string[]): FlagsResult {
  const issues: { path: string; message: string }[] = [];
  let json = false;
  let help = false;
  const require: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? "";
    if (a === "--json") json = true;
    else if (a === "--help" || a === "-h") help = true;
    else if (a === "--require" || a.startsWith("--require=")) {
      const v = a === "--require" ? argv[++i] : a.slice("--require=".length);
      if (v === undefined || v.length === 0) {
        issues.push({ path: "--require", message: "expected a provider list such as webgpu,cpu" });
        continue;
      }
      for (const name of v.split(",").map((s) => s.trim())) {
        if (isProviderName(name)) require.push(name);
        else issues.push({ path: "--require", message: `unknown provider ${JSON.stringify(name)}` });
      }
    } else issues.push({ path: a, message: "unknown flag; expected --json, --require <providers>, --help" });
  }
  return issues.length ? { ok: false, issues } : { ok: true, value: { json, require, help } };
}

const HELP = `Usage: tessera doctor [--json] [--require webgpu,cpu]

Prints Node and ONNX Runtime versions, each execution provider (bundled? available? why not),
and the Vulkan drivers/adapters the webgpu provider can use.

Exit codes: 0 ok, 1 a provider named in --require is unavailable, 2 bad flags.`;

/** Runs `tessera doctor`; returns the process exit code. */
export async function doctor(argv: string[]): Promise<number> {
  const flags = parseFlags(argv);
  if (!flags.ok) {
    for (const iss of flags.issues) process.stderr.write(`tessera doctor: ${iss.path}: ${iss.message}\n`);
    process.stderr.write(`${HELP}\n`);
    return 2;
  }
  if (flags.value.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const report = await collectDoctorReport();
  const missing = flags.value.require.filter(
    (name) => !report.providers.some((p) => p.name === name && p.available),
  );
  if (flags.value.json) process.stdout.write(`${JSON.stringify({ ...report, missing }, null, 2)}\n`);
  else {
    process.stdout.write(`${formatDoctorReport(report)}\n`);
    if (missing.length) process.stdout.write(`\nrequired but unavailable: ${missing.join(", ")}\n`);
  }
  return missing.length ? 1 : 0;
}
