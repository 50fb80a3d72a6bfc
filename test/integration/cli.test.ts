/** The `tessera` CLI as a child process: help, exit codes, inspect, run, models, config validation. */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { decodeModelProto, encodeModel, GraphBuilder } from "../../src/onnx/index.ts";
import { ensureDemoRepository } from "../../src/server/index.ts";
import { tensor, writeNpy, writeSafetensors } from "../../src/tensor/index.ts";
import { makeModelFolder } from "../text/helpers.ts";
import { tessera } from "./spawn.ts";

const dir = mkdtempSync(join(tmpdir(), "tessera-cli-"));
const models = join(dir, "models");
const mlp = join(models, "demo-mlp", "1", "model.onnx");
before(async () => {
  await ensureDemoRepository(models);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe("tessera", () => {
  test("--help lists commands and exit codes; no command or an unknown one is a usage error (2)", async () => {
    const help = await tessera(["--help"]);
    assert.equal(help.code, 0);
    for (const c of ["serve", "inspect", "run", "models", "doctor", "Exit codes"])
      assert.match(help.stdout, new RegExp(c));
    assert.equal((await tessera([])).code, 2);
    const unknown = await tessera(["fly"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "fly"/);
  });

  test("every command has --help with examples", async () => {
    for (const c of ["serve", "inspect", "run", "models"]) {
      const r = await tessera([c, "--help"]);
      assert.equal(r.code, 0, c);
      assert.match(r.stdout, /examples:/, c);
    }
  });

  test("inspect prints inputs/outputs with symbolic dims, opset, ops, size and sha256", async () => {
    const r = await tessera(["inspect", mlp]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /sha256\s+[0-9a-f]{64}/);
    assert.match(r.stdout, /input\s+float32\s+\[batch, 4\]/);
    assert.match(r.stdout, /probabilities\s+float32\s+\[batch, 3\]/);
    assert.match(r.stdout, /opsets\s+ai\.onnx=17/);
    assert.match(r.stdout, /MatMul\s+ai\.onnx\s+2/);
    const json = JSON.parse((await tessera(["inspect", mlp, "--json"])).stdout) as {
      inputs: { dims: unknown[] }[];
    };
    assert.deepEqual(json.inputs[0]!.dims, ["batch", 4]);
    assert.equal((await tessera(["inspect", join(dir, "missing.onnx")])).code, 4);
    assert.equal((await tessera(["inspect"])).code, 2);
  });

  test("run takes .json (by name and OIP form) and .npy, and prints outputs", async () => {
    const byName = join(dir, "x.json");
    writeFileSync(byName, JSON.stringify({ input: [[0.1, 0.2, 0.3, 0.4]] }));
    const a = await tessera(["run", mlp, "--input", byName, "--json"]);
    assert.equal(a.code, 0, a.stderr);
    const out = JSON.parse(a.stdout) as Record<string, { shape: number[]; data: number[] }>;
    assert.deepEqual(out.probabilities!.shape, [1, 3]);
    const oip = join(dir, "oip.json");
    writeFileSync(
      oip,
      JSON.stringify({
        inputs: [{ name: "input", datatype: "FP32", shape: [1, 4], data: [0.1, 0.2, 0.3, 0.4] }],
      }),
    );
    const b = JSON.parse((await tessera(["run", mlp, "--input", oip, "--json"])).stdout) as typeof out;
    assert.deepEqual(b, out);
    const npy = join(dir, "x.npy");
    writeFileSync(npy, writeNpy(tensor([[0.1, 0.2, 0.3, 0.4]], "float32")));
    const c = await tessera(["run", mlp, "--input", npy]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /probabilities {2}float32 \[1, 3\]/);
    const st = join(dir, "x.safetensors");
    writeFileSync(st, writeSafetensors({ input: tensor([[0.1, 0.2, 0.3, 0.4]], "float32") }));
    const e = JSON.parse((await tessera(["run", mlp, "--input", st, "--json"])).stdout) as typeof out;
    assert.deepEqual(e, out);
    // BF16 safetensors (Hugging Face's usual dtype) widen exactly to the float32 input.
    const header = Buffer.from(
      JSON.stringify({ input: { dtype: "BF16", shape: [1, 4], data_offsets: [0, 8] } }),
    );
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    const bf16 = Buffer.from(new Uint16Array([0x3f00, 0x3e80, 0x3f80, 0x4000]).buffer); // 0.5, 0.25, 1, 2
    const stBf16 = join(dir, "bf16.safetensors");
    writeFileSync(stBf16, Buffer.concat([len, header, bf16]));
    const npyExact = join(dir, "exact.npy");
    writeFileSync(npyExact, writeNpy(tensor([[0.5, 0.25, 1, 2]], "float32")));
    const viaBf16 = await tessera(["run", mlp, "--input", stBf16, "--json"]);
    assert.equal(viaBf16.code, 0, viaBf16.stderr);
    assert.deepEqual(
      JSON.parse(viaBf16.stdout),
      JSON.parse((await tessera(["run", mlp, "--input", npyExact, "--json"])).stdout),
    );
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ nope: [1] }));
    const d = await tessera(["run", mlp, "--input", bad]);
    assert.equal(d.code, 1);
    assert.match(d.stderr, /unknown input "nope"/);
    assert.equal((await tessera(["run", mlp])).code, 2);
  });

  test("inspect of a model with external data reports each data file: its size, or that it is missing or too short", async () => {
    const g = new GraphBuilder({ name: "ext", opset: 17, domainOpsets: { "com.microsoft": 1 } });
    g.input("x", "float32", ["batch", 4]);
    const w = g.initializer("w", tensor([[1, 2, 3, 4]], "float32").reshape([4, 1]));
    const b = g.initializer("b", tensor([0.5], "float16"));
    g.node(
      "Gelu",
      [g.op("Add", [g.op("MatMul", ["x", w]), g.op("Cast", [b], { to: 1 })])],
      ["y"],
      {},
      {
        domain: "com.microsoft",
      },
    );
    g.output("y", "float32", ["batch", 1]);
    const proto = decodeModelProto(g.toBytes());
    const chunks: Uint8Array[] = [];
    let offset = 0;
    for (const init of proto.graph!.initializer!) {
      const raw = init.raw_data!;
      init.external_data = [
        { key: "location", value: "model.onnx_data" },
        { key: "offset", value: String(offset) },
        { key: "length", value: String(raw.length) },
      ];
      init.data_location = 1;
      init.raw_data = new Uint8Array(0);
      chunks.push(raw);
      offset += raw.length;
    }
    const folder = join(dir, "ext");
    mkdirSync(folder);
    const model = join(folder, "model.onnx");
    writeFileSync(model, encodeModel(proto));
    const data = join(folder, "model.onnx_data");
    writeFileSync(data, Buffer.concat(chunks));
    const json = await tessera(["inspect", model, "--json"]);
    assert.equal(json.code, 0, json.stderr);
    const info = JSON.parse(json.stdout) as { opsets: object; externalData: object[] };
    assert.deepEqual(info.opsets, { "": 17, "com.microsoft": 1 });
    assert.deepEqual(info.externalData, [
      { location: "model.onnx_data", path: data, tensors: 2, bytes: offset, needed: offset },
    ]);
    assert.match((await tessera(["inspect", model])).stdout, /2 tensors in model\.onnx_data: 18 B/);
    writeFileSync(data, Buffer.concat(chunks).subarray(0, 10));
    assert.match((await tessera(["inspect", model])).stdout, /TOO SHORT \(the tensors need 18 bytes/);
    unlinkSync(data);
    assert.match((await tessera(["inspect", model])).stdout, /model\.onnx_data: MISSING/);
  });

  test("run .json by name checks values against the input's dtype: exact INT64 strings, no silent rounding or wrapping", async () => {
    const g = new GraphBuilder({ name: "ints", opset: 17 });
    g.input("ids", "int64", ["n"]);
    g.input("small", "uint8", ["n"]);
    g.node("Identity", ["ids"], ["ids_out"]);
    g.node("Identity", ["small"], ["small_out"]);
    g.output("ids_out", "int64", ["n"]);
    g.output("small_out", "uint8", ["n"]);
    const model = join(dir, "ints.onnx");
    writeFileSync(model, g.toBytes());
    const input = join(dir, "ints.json");
    const runWith = async (value: object) => {
      writeFileSync(input, JSON.stringify(value));
      return tessera(["run", model, "--input", input, "--json"]);
    };
    const ok = await runWith({ ids: ["9007199254740993", 5], small: [0, 255] });
    assert.equal(ok.code, 0, ok.stderr);
    const out = JSON.parse(ok.stdout) as Record<string, { data: unknown[] }>;
    assert.deepEqual(out.ids_out!.data, ["9007199254740993", "5"]);
    assert.deepEqual(out.small_out!.data, [0, 255]);
    for (const [value, why] of [
      [{ ids: [1.5], small: [1] }, /data element 0 is the number 1\.5, expected an integer/],
      [
        { ids: [2 ** 53 + 2], small: [1] },
        /expected an integer \(a number up to 2\^53, or a decimal string\)/,
      ],
      [{ ids: [1], small: [300] }, /300, expected an integer in \[0, 255\] for UINT8/],
    ] as const) {
      const r = await runWith(value);
      assert.equal(r.code, 1, JSON.stringify(value));
      assert.match(r.stderr, /E_INPUT_INVALID/);
      assert.match(r.stderr, why);
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    }
  });

  test("embed --variant NAME loads onnx/model_<NAME>.onnx", async () => {
    const folder = makeModelFolder({ normalize: true, variants: true });
    try {
      unlinkSync(join(folder.dir, "onnx", "model.onnx")); // only model_quantized.onnx is left
      const plain = await tessera(["embed", "--model", folder.dir, "hello world"]);
      assert.notEqual(plain.code, 0);
      assert.match(plain.stderr, /model_quantized\.onnx; pick one with variant/);
      const q = await tessera(["embed", "--model", folder.dir, "--variant", "quantized", "hello world"]);
      assert.equal(q.code, 0, q.stderr);
      const line = JSON.parse(q.stdout.trim()) as { index: number; embedding: number[] };
      assert.equal(line.index, 0);
      assert.ok(line.embedding.length > 0);
      const absent = await tessera(["embed", "--model", folder.dir, "--variant", "q4", "hello world"]);
      assert.notEqual(absent.code, 0);
      assert.match(absent.stderr, /onnx\/model_q4\.onnx/);
    } finally {
      folder.cleanup();
    }
  });

  test("models lists the repository with versions and state", async () => {
    const r = await tessera(["models", "--models", models, "--load"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /demo-encoder\s+1\s+READY/);
    assert.match(r.stdout, /demo-mlp\s+1\s+READY/);
    assert.equal((await tessera(["models", "--models", join(dir, "none")])).code, 4);
  });

  test("serve: bad flags are usage errors (2); bad values report every problem (3)", async () => {
    const flag = await tessera(["serve", "--models", models, "--nope"]);
    assert.equal(flag.code, 2);
    const cfg = join(dir, "server.json");
    writeFileSync(cfg, JSON.stringify({ port: 99999, colour: "red" }));
    const r = await tessera(["serve", "--config", cfg, "--timeout-ms", "soon"], {
      env: { TESSERA_LOG_LEVEL: "loud" },
    });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /4 problems/);
    for (const p of [/server\.json: colour/, /server\.json: port/, /env TESSERA_LOG_LEVEL/, /--timeout-ms/])
      assert.match(r.stderr, p);
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const port = (blocker.address() as { port: number }).port;
    const busy = await tessera([
      "serve",
      "--models",
      models,
      "--port",
      String(port),
      "--log-level",
      "silent",
    ]);
    blocker.close();
    assert.equal(busy.code, 1, "a port in use fails (and the process exits)");
    assert.match(busy.stderr, /EADDRINUSE/);
    assert.doesNotMatch(busy.stderr, /\n\s+at /, "a system error prints its message, not a stack");
    const missing = await tessera(["serve", "--models", join(dir, "absent")]);
    assert.equal(missing.code, 4);
    assert.match(missing.stderr, /--demo/);
  });
});
