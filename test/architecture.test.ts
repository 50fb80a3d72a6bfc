/**
 * Architecture checks: imports point one way (tensor → onnx → runtime → batching → text → pipeline / server
 * → cli), modules import each other only through index.ts, and src/tensor imports nothing outside itself
 * except Node built-ins.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), "..");
const SRC = join(ROOT, "src");

/** Module rank: a module may import only modules of lower rank (same rank: neither imports the other). */
export const RANK: Readonly<Record<string, number>> = {
  tensor: 0,
  onnx: 1,
  runtime: 2,
  batching: 3,
  text: 4,
  pipeline: 5,
  server: 5,
  cli: 6,
};

interface Violation {
  file: string;
  spec: string;
  why: string;
}

/** Import specifiers of a TS source (static imports/exports, dynamic import(), require()). */
export function importsOf(source: string): string[] {
  const out: string[] = [];
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const re =
    /(?:^|[;\s])(?:import|export)\s[^;'"]*?from\s*["']([^"']+)["']|(?:^|[;\s])import\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)|\brequire\s*\(\s*["']([^"']+)["']\s*\)/g;
  for (const m of code.matchAll(re)) out.push((m[1] ?? m[2] ?? m[3] ?? m[4])!);
  return out;
}

/** Checks one file's imports; `file` is relative to src/. */
export function checkFile(file: string, specs: readonly string[]): Violation[] {
  const v: Violation[] = [];
  const mod = file.split("/")[0]!;
  if (!file.includes("/")) return v; // src/index.ts re-exports everything
  for (const spec of specs) {
    if (spec.startsWith(".")) {
      const target = relative(SRC, resolve(SRC, dirname(file), spec))
        .split("\\")
        .join("/");
      if (target.startsWith("..")) {
        v.push({ file, spec, why: "imports from outside src/" });
        continue;
      }
      const tmod = target.split("/")[0]!;
      if (tmod === mod) continue;
      if (!target.includes("/")) {
        v.push({ file, spec, why: "imports the package root src/index.ts" });
        continue;
      }
      if (!(tmod in RANK)) continue; // out-of-scope modules (train) are not ranked here
      if (mod === "tensor") v.push({ file, spec, why: "src/tensor imports another module" });
      else if (RANK[tmod]! >= RANK[mod]!)
        v.push({
          file,
          spec,
          why: `${mod} (rank ${RANK[mod]}) imports ${tmod} (rank ${RANK[tmod]}), which is not to its left`,
        });
      if (target !== `${tmod}/index.ts`)
        v.push({ file, spec, why: `deep import into ${tmod}; import ${tmod}/index.ts instead` });
    } else if (mod === "tensor" && !spec.startsWith("node:")) {
      v.push({ file, spec, why: "src/tensor imports a package; it may use only node: built-ins" });
    }
  }
  return v;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : /\.(ts|mts|js|mjs)$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

function violations(filter: (v: Violation) => boolean): Violation[] {
  return walk(SRC).flatMap((abs) => {
    const file = relative(SRC, abs).split("\\").join("/");
    return checkFile(file, importsOf(readFileSync(abs, "utf8"))).filter(filter);
  });
}

const fmt = (vs: Violation[]) => vs.map((x) => `${x.file}: "${x.spec}" — ${x.why}`).join("\n");

test("the checker sees violations (self-test on synthetic files)", () => {
  assert.deepEqual(
    importsOf(
      `import { a } from "./x.ts";\nimport type {\n b,\n} from '../y.ts';\nexport * from "./z.ts";\nconst m = await import("onnxruntime-node");\n// import { c } from "./commented.ts";\nimport "./side.ts";`,
    ),
    ["./x.ts", "../y.ts", "./z.ts", "onnxruntime-node", "./side.ts"],
  );
  assert.equal(checkFile("tensor/ops/add.ts", ["../../onnx/index.ts"]).length, 1);
  assert.equal(checkFile("tensor/a.ts", ["onnxruntime-node"]).length, 1);
  assert.equal(checkFile("tensor/a.ts", ["node:fs", "./b.ts"]).length, 0);
  assert.equal(checkFile("onnx/a.ts", ["../runtime/index.ts"]).length, 1);
  assert.equal(checkFile("runtime/a.ts", ["../tensor/index.ts"]).length, 0);
  assert.equal(checkFile("server/a.ts", ["../pipeline/index.ts"]).length, 1);
  assert.equal(checkFile("server/a.ts", ["../runtime/session.ts"]).length, 1);
  assert.equal(checkFile("cli/a.ts", ["../server/index.ts", "fastify"]).length, 0);
});

test("src/tensor imports nothing outside src/tensor (Node built-ins excepted)", () => {
  const vs = violations((v) => v.file.startsWith("tensor/"));
  assert.equal(vs.length, 0, fmt(vs));
});

test("modules import only modules to their left", () => {
  const vs = violations((v) => !v.why.startsWith("deep import"));
  assert.equal(vs.length, 0, fmt(vs));
});

test("modules import each other only through index.ts", () => {
  const vs = violations((v) => v.why.startsWith("deep import"));
  assert.equal(vs.length, 0, fmt(vs));
});
