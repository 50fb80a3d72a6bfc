import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { TextEmbedder } from "../../src/text/index.ts";
import { makeModelFolder, type TempFolder } from "./helpers.ts";

const ROOT = join(import.meta.dirname, "..", "..");

function cli(args: string[], stdin?: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), ...args], {
      cwd: ROOT,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    p.stdout.on("data", (d) => {
      out += d;
    });
    p.stderr.on("data", (d) => {
      err += d;
    });
    p.on("error", reject);
    p.on("close", (code) => resolve({ code: code ?? -1, out, err }));
    p.stdin.end(stdin ?? "");
  });
}

describe("tessera embed", () => {
  let folder: TempFolder;
  let lib: TextEmbedder;
  before(async () => {
    folder = makeModelFolder({ normalize: true, variants: true });
    lib = await TextEmbedder.load(folder.dir, { session: { replicas: 1, intraOpThreads: 1 } });
  });
  after(async () => {
    await lib.close();
    folder.cleanup();
  });

  it("embeds arguments and JSONL from stdin, equal to the library", async () => {
    const a = await cli(["embed", "--model", folder.dir, "the key type", "hello"]);
    assert.equal(a.code, 0, a.err);
    const rows = a.out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { index: number; tokens: number; embedding: number[] });
    assert.equal(rows.length, 2);
    const want = await lib.embed(["the key type", "hello"]);
    rows.forEach((r, i) => {
      assert.equal(r.index, i);
      r.embedding.forEach((x, j) => {
        assert.ok(Math.abs(x - (want.get(i, j) as number)) < 1e-6);
      });
    });
    const s = await cli(
      ["embed", "--model", folder.dir, "--dimensions", "4"],
      '{"id":"a","text":"the key type"}\n"hello"\n',
    );
    assert.equal(s.code, 0, s.err);
    const srows = s.out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { id?: string; embedding: number[] });
    assert.equal(srows[0]?.id, "a");
    assert.equal(srows[1]?.embedding.length, 4);
  });

  it("--variant picks onnx/model_<variant>.onnx; a missing one names the graphs found", async () => {
    const q = await cli(["embed", "--model", folder.dir, "--variant", "quantized", "hello"]);
    assert.equal(q.code, 0, q.err);
    const bad = await cli(["embed", "--model", folder.dir, "--variant", "int8", "hello"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.err, /model_int8\.onnx/);
    assert.match(bad.err, /onnx\/model_quantized\.onnx/);
  });

  it("--pooling takes sentence-transformers' weightedmean / mean_sqrt_len_tokens (and lasttoken), equal to the library", async () => {
    for (const mode of ["weightedmean", "mean_sqrt_len_tokens"] as const) {
      const r = await cli([
        "embed",
        "--model",
        folder.dir,
        "--pooling",
        mode,
        "--no-normalize",
        "the key type",
      ]);
      assert.equal(r.code, 0, r.err);
      const got = (JSON.parse(r.out.trim()) as { embedding: number[] }).embedding;
      const want = await lib.embed(["the key type"], { pooling: mode, normalize: false });
      for (const [j, x] of got.entries())
        assert.ok(Math.abs(x - (want.get(0, j) as number)) < 1e-6, `${mode}[${j}]`);
    }
    assert.equal((await cli(["embed", "--model", folder.dir, "--pooling", "lasttoken", "x"])).code, 0);
    const bad = await cli(["embed", "--model", folder.dir, "--pooling", "splade", "x"]);
    assert.equal(bad.code, 3);
    assert.match(
      bad.err,
      /--pooling: expected one of mean, cls, last, max, weightedmean, mean_sqrt_len_tokens/,
    );
  });

  it("reports bad flags and bad stdin lines with exit codes", async () => {
    assert.equal((await cli(["embed", "x"])).code, 2);
    const bad = await cli(["embed", "--model", folder.dir], "{nope\n");
    assert.equal(bad.code, 3);
    assert.match(bad.err, /line 1/);
    const tooLong = await cli([
      "embed",
      "--model",
      folder.dir,
      Array.from({ length: 300 }, () => "the").join(" "),
    ]);
    assert.equal(tooLong.code, 1);
    assert.match(tooLong.err, /E_TEXT_TOO_LONG/);
  });

  it("pull: usage errors and a network error are reported", async () => {
    const cache = mkdtempSync(join(tmpdir(), "tessera-pull-cli-"));
    try {
      assert.equal((await cli(["pull"])).code, 2);
      const r = await cli(["pull", "org/mini", "--endpoint", "http://127.0.0.1:1", "--cache", cache]);
      assert.equal(r.code, 1);
      assert.match(r.err, /E_PULL_NETWORK/);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
