// Runs examples/onnx-inspect.ts on the zoo default and on the fixture written by the onnx Python package.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

const run = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", "examples/onnx-inspect.ts", ...args], { encoding: "utf8" });

test("examples/onnx-inspect.ts summarises a zoo model and a foreign file", () => {
  const zoo = run();
  assert.equal(zoo.status, 0, zoo.stderr);
  assert.match(zoo.stdout, /in {2}input_ids: int64 \[batch, sequence\]/);
  assert.match(zoo.stdout, /out last_hidden_state: float32 \[batch, sequence, 64\]/);
  assert.match(zoo.stdout, /LayerNormalization×5/);
  assert.match(zoo.stdout, /meta tessera\.synthetic = true/);

  const py = run("test/onnx/fixtures/python-features.onnx");
  assert.equal(py.status, 0, py.stderr);
  assert.match(py.stdout, /opsets ai\.onnx=13, com\.example=1/);
  assert.match(py.stdout, /in {2}cond_src: float32 \[\?\]/);
  assert.match(py.stdout, /external: ext → weights\.bin @4096/);

  const bad = run("package.json");
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /E_ONNX_DECODE|not an ONNX model/);
});
