import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, test } from "node:test";
import { parseScoreFlags, run } from "../../src/cli/commands/score.ts";
import { mlpClassifier } from "../../src/onnx/index.ts";
import { type Column, openSink } from "../../src/pipeline/index.ts";
import { tmpDir } from "./helpers.ts";

const dir = tmpDir();
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t) }, out, err };
}

test("tessera score: every flag problem is reported at once (exit 3); --help exits 0", async () => {
  const a = io();
  const code = await run(
    ["--model", "churn", "--batch-size", "0", "--on-error", "maybe", "--resume", "--overwrite"],
    a.io,
  );
  assert.equal(code, 3);
  const text = a.err.join("\n");
  for (const needle of [
    "--input: required",
    "--output: required",
    '--model: "churn" is not an .onnx path',
    "--batch-size: expected an integer ≥ 1",
    "--on-error: expected fail or skip",
    "--resume and --overwrite",
  ]) {
    assert.ok(text.includes(needle), `${needle} in ${text}`);
  }
  const bare = io();
  assert.equal(await run([], bare.io), 2, "only missing arguments: a usage error, as documented");
  assert.match(bare.err.join(""), /--model: required/);
  const h = io();
  assert.equal(await run(["--help"], h.io), 0);
  assert.match(h.out.join(""), /usage: tessera score/);
  const missing = io();
  assert.equal(
    await run(
      ["--model", "m.onnx", "--input", path.join(dir, "nope-*.csv"), "--output", "o.csv"],
      missing.io,
    ),
    4,
  );
  assert.match(missing.err.join(""), /E_PIPELINE_NO_INPUT/);
});

test("tessera score --model NAME --models DIR: labels from the model config, glob input, JSONL output", async () => {
  const repo = path.join(dir, "models");
  fs.mkdirSync(path.join(repo, "churn", "1"), { recursive: true });
  fs.writeFileSync(
    path.join(repo, "churn", "1", "model.onnx"),
    mlpClassifier({ inputDim: 2, hidden: [4], classes: 2, seed: 3 }).bytes,
  );
  fs.writeFileSync(
    path.join(repo, "churn", "config.json"),
    JSON.stringify({ kind: "onnx", labels: ["no", "yes"], replicas: 1 }),
  );
  for (const [name, start] of [
    ["b.arrow", 50],
    ["a.arrow", 0],
  ] as const) {
    const n = 50;
    const cols = new Map<string, Column>([
      ["id", { kind: "int32", length: n, valid: null, values: new Int32Array(n).map((_, i) => start + i) }],
      ["u", { kind: "float32", length: n, valid: null, values: new Float32Array(n).map((_, i) => i / n) }],
      [
        "v",
        { kind: "float64", length: n, valid: null, values: new Float64Array(n).map((_, i) => 1 - i / n) },
      ],
    ]);
    const sink = await openSink(
      path.join(dir, name),
      "arrow",
      [...cols].map(([k, c]) => ({ name: k, kind: c.kind })),
    );
    await sink.write({ numRows: n, columns: cols });
    await sink.close();
  }
  const out = path.join(dir, "scores.jsonl");
  const r = io();
  const code = await run(
    [
      "--model",
      "churn",
      "--models",
      repo,
      "--input",
      path.join(dir, "*.arrow"),
      "--output",
      out,
      "--columns",
      "u,v",
      "--key-columns",
      "id",
      "--outputs",
      "probabilities",
      "--progress",
      "none",
    ],
    r.io,
  );
  assert.equal(code, 0, r.err.join("\n"));
  const rows = fs
    .readFileSync(out, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(rows.length, 100);
  assert.deepEqual(
    rows.map((x) => x.id),
    [...Array(100).keys()],
    "a.arrow before b.arrow",
  );
  assert.ok(rows.every((x) => (x.label === "no" || x.label === "yes") && x.probabilities.length === 2));
  const m = JSON.parse(fs.readFileSync(`${out}.manifest.json`, "utf8"));
  assert.equal(m.model.name, "churn");
  assert.equal(m.model.version, "1");
  assert.equal(m.inputs.length, 2);
  // an existing output is not replaced without --overwrite
  const again = io();
  assert.equal(
    await run(
      [
        "--model",
        "churn",
        "--models",
        repo,
        "--input",
        path.join(dir, "a.arrow"),
        "--output",
        out,
        "--progress",
        "none",
      ],
      again.io,
    ),
    1,
  );
  assert.match(again.err.join(""), /E_PIPELINE_OUTPUT_EXISTS/);
});

test("--delimiter '\\t' (two characters from a shell) or tab means a tab; a quote or two characters are refused", async () => {
  for (const given of ["\\t", "tab", "TAB", "\t"]) {
    const r = parseScoreFlags({ model: "m.onnx", input: ["a.csv"], output: "o.csv", delimiter: given });
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.value.delimiter, "\t", given);
  }
  for (const bad of ['"', ";;", "\n"]) {
    const r = parseScoreFlags({ model: "m.onnx", input: ["a.csv"], output: "o.csv", delimiter: bad });
    assert.ok(!r.ok && r.issues.some((i) => i.path === "--delimiter"), bad);
  }
});

test("a glob of more files than the open-file limit scores (inputs were all opened at once to hash them: EMFILE)", () => {
  const folder = path.join(dir, "many");
  fs.mkdirSync(folder);
  for (let k = 0; k < 200; k++)
    fs.writeFileSync(path.join(folder, `p${String(k).padStart(4, "0")}.csv`), `id,a,b\n${k},1,2\n`);
  const model = path.join(dir, "many.onnx");
  fs.writeFileSync(model, mlpClassifier({ inputDim: 2, hidden: [4], classes: 2, seed: 3 }).bytes);
  const output = path.join(dir, "many.csv");
  const command = [
    "ulimit -n 128 &&",
    "exec",
    JSON.stringify(process.execPath),
    "--import tsx src/cli/main.ts score --replicas 1 --progress none --key-columns id",
    `--model ${JSON.stringify(model)} --input ${JSON.stringify(path.join(folder, "*.csv"))} --output ${JSON.stringify(output)}`,
  ].join(" ");
  const r = spawnSync("bash", ["-c", command], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(fs.readFileSync(output, "utf8").trimEnd().split("\n").length, 201);
  const manifest = JSON.parse(fs.readFileSync(`${output}.manifest.json`, "utf8"));
  assert.equal(manifest.inputs.length, 200);
  assert.match(manifest.inputs[199].sha256, /^[0-9a-f]{64}$/);
});
