// Cross-check with the official ONNX checker (Python `onnx`, with full shape inference) when it is installed
// (Debian: apt-get install python3-onnx). Independent of ONNX Runtime: catches schema mistakes ORT tolerates.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  bertEncoder,
  crossEncoder,
  GraphBuilder,
  matmulModel,
  mlpClassifier,
  multiIO,
  slowModel,
} from "../../src/onnx/index.ts";
import { scalar, tensor } from "../../src/tensor/index.ts";

const PY = "/usr/bin/python3";
const hasOnnx = spawnSync(PY, ["-c", "import onnx"], { stdio: "ignore" }).status === 0;

const CHECK = `
import sys, onnx
bad = 0
for path in sys.argv[1:]:
    try:
        onnx.checker.check_model(onnx.load(path), full_check=True)
        print("OK", path)
    except Exception as e:
        bad += 1
        print("FAIL", path, str(e).splitlines()[0])
sys.exit(1 if bad else 0)
`;

test("zoo and builder models pass onnx.checker.check_model(full_check=True)", {
  skip: !hasOnnx && "python3-onnx is not installed",
}, () => {
  const dir = mkdtempSync(join(tmpdir(), "tessera-onnx-check-"));
  try {
    const g = new GraphBuilder({ name: "attrs", opset: 17 });
    g.input("x", "float32", ["b", null, 3]);
    g.node("LeakyRelu", ["x"], ["y"], { alpha: 0.5 });
    g.node("Constant", [], ["s"], { value_strings: ["a", "bé"] });
    g.node("Constant", [], ["t"], { value: tensor([[true, false]], "bool") });
    g.node("Mul", ["y", g.constant(scalar(2))], ["z"]);
    g.output("z", "float32", ["b", null, 3]);
    const models: Record<string, Uint8Array> = {
      attrs: g.toBytes(),
      mlp: mlpClassifier({ inputDim: 8, hidden: [16], classes: 3 }).bytes,
      bert: bertEncoder({ vocabSize: 30, hidden: 16, heads: 2, layers: 1, maxPositions: 8 }).bytes,
      cross: crossEncoder({ vocabSize: 30, hidden: 16, heads: 2, layers: 1, maxPositions: 8 }).bytes,
      multi: multiIO().bytes,
      matmul: matmulModel("batch", 4, 4).bytes,
      slow: slowModel({ size: 8, iterations: 2 }).bytes,
    };
    const paths = Object.entries(models).map(([name, bytes]) => {
      const p = join(dir, `${name}.onnx`);
      writeFileSync(p, bytes);
      return p;
    });
    const r = spawnSync(PY, ["-c", CHECK, ...paths], { encoding: "utf8" });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.equal(r.stdout.split("\n").filter((l) => l.startsWith("OK")).length, paths.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
