/**
 * gzip-compressed text inputs (.csv.gz, .tsv.gz, .jsonl.gz, multi-member, gzip data under a plain name) and gzip
 * outputs (.csv.gz, .jsonl.gz: one member per committed part): they score like the plain files, resume from a
 * decompressed-byte cursor exactly, and corrupt, truncated or mislabelled files fail with E_PIPELINE_COMPRESSION
 * naming the file.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, test } from "node:test";
import * as zlib from "node:zlib";
import { mlpClassifier } from "../../src/onnx/index.ts";
import { openSink, openSource, type SourceCursor, scoreFiles, sliceBatch } from "../../src/pipeline/index.ts";
import { type InferenceSession, openSession } from "../../src/runtime/index.ts";
import { lcg, mlpScoreOptions, rowsOf, sampleBatch, tmpDir } from "./helpers.ts";

const dir = tmpDir();
const F = 4;
const ROWS = 3000;
let session: InferenceSession;
let csvText = "";
let jsonlText = "";

before(async () => {
  session = await openSession(mlpClassifier({ inputDim: F, hidden: [8], classes: 3, seed: 2 }).bytes, {
    replicas: 2,
    intraOpThreads: 1,
  });
  const rnd = lcg(11);
  const lines = ["id,x0,x1,x2,x3,note"];
  const json: string[] = [];
  for (let i = 0; i < ROWS; i++) {
    const x = Array.from({ length: F }, () => Math.round((rnd() * 4 - 2) * 1000) / 1000);
    // a quoted field with a newline and a comma every 7th row: record cuts must respect quotes
    const note = i % 7 === 0 ? `"line one\nline, two ""${i}"""` : `n${i}`;
    lines.push(`${i},${x.join(",")},${note}`);
    json.push(JSON.stringify({ id: i, x0: x[0], x1: x[1], x2: x[2], x3: x[3] }));
  }
  csvText = `${lines.join("\r\n")}\r\n`;
  jsonlText = `${json.join("\n")}\n`;
  fs.writeFileSync(path.join(dir, "plain.csv"), csvText);
  fs.writeFileSync(path.join(dir, "plain.jsonl"), jsonlText);
});
after(async () => {
  await session.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function options(inputs: string[], output: string) {
  return { ...mlpScoreOptions(session, inputs, output), columns: ["x0", "x1", "x2", "x3"] };
}

/** Gzip members of `text` cut at byte offsets `cuts` (anywhere, also inside a record), one after another. */
function members(text: string | Buffer, cuts: number[]): Buffer {
  const b = Buffer.from(text);
  const at = [0, ...cuts, b.length];
  return Buffer.concat(at.slice(1).map((end, i) => zlib.gzipSync(b.subarray(at[i], end))));
}

test("csv.gz, tsv.gz, jsonl.gz, multi-member gzip and gzip under a .csv name score like the plain file", async () => {
  const reference = path.join(dir, "ref.csv");
  await scoreFiles(options([path.join(dir, "plain.csv")], reference));
  const want = fs.readFileSync(reference);
  const files: Record<string, Buffer> = {
    "a.csv.gz": zlib.gzipSync(csvText),
    "b.CSV.GZ": zlib.gzipSync(csvText, { level: 1 }),
    "c.tsv.gz": zlib.gzipSync(csvText.replaceAll(",", "\t").replaceAll("line\t", "line,")),
    "d.jsonl.gz": zlib.gzipSync(jsonlText),
    "e.ndjson.gz": members(jsonlText, [1, 5000, 5001, 40_000]),
    "f.csv.gz": members(csvText, [10, 3333, 70_000]),
    "g.csv": zlib.gzipSync(csvText), // named plain, holds gzip (a download kept its Content-Encoding)
  };
  // BOM at the start of the decompressed data
  files["h.csv.gz"] = zlib.gzipSync(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(csvText)]));
  for (const [name, bytes] of Object.entries(files)) {
    const input = path.join(dir, name);
    fs.writeFileSync(input, bytes);
    const out = path.join(dir, `out-${name}.csv`);
    const s = await scoreFiles(options([input], out));
    assert.equal(s.rowsScored, ROWS, name);
    assert.ok(fs.readFileSync(out).equals(want), `${name}: output differs from the plain file's`);
  }
  // a glob over compressed and plain inputs: every row of each, in order; the manifest counts each file's rows
  const out = path.join(dir, "glob.jsonl");
  const s = await scoreFiles(options([path.join(dir, "a.csv.gz"), path.join(dir, "plain.jsonl")], out));
  assert.equal(s.rowsScored, 2 * ROWS);
  const manifest = JSON.parse(fs.readFileSync(`${out}.manifest.json`, "utf8"));
  assert.deepEqual(
    manifest.inputs.map((i: { rows: number | null }) => i.rows),
    [ROWS, ROWS],
  );
});

test("a gzip source resumes from any chunk cursor (decompressed bytes) exactly after it", async () => {
  const { batch, fields } = sampleBatch(600);
  for (const format of ["csv", "jsonl"] as const) {
    const plain = path.join(dir, `resume-src.${format}`);
    const sink = await openSink(plain, format, fields);
    await sink.write(batch);
    await sink.close();
    const text = fs.readFileSync(plain);
    const file = `${plain}.gz`;
    fs.writeFileSync(file, members(text, [777, 5000]));
    const src = await openSource(file, { schema: fields, chunkBytes: 2000 });
    assert.equal(src.compression, "gzip");
    const chunks = [];
    for await (const c of src.chunks()) chunks.push(c);
    assert.ok(chunks.length > 5);
    const names = fields.map((f) => f.name);
    assert.deepEqual(
      rowsOf(
        chunks.map((c) => c.batch),
        names,
      ),
      rowsOf([batch], names),
    );
    // progress bytes are bytes of the compressed file
    assert.ok(chunks.at(-1)!.bytesRead <= fs.statSync(file).size);
    for (const cut of [chunks[3]!.end, chunks[3]!.cursorAt(5)] as SourceCursor[]) {
      const rest = [];
      for await (const c of src.chunks(cut)) rest.push(c);
      assert.equal(rest[0]!.firstRow, cut.rows);
      assert.deepEqual(
        rowsOf(
          rest.map((c) => c.batch),
          names,
        ),
        rowsOf([sliceBatch(batch, cut.rows, 600)], names),
        format,
      );
    }
    // a cursor past the end of the data (the file was replaced by a shorter one) is an error, not 0 rows
    await assert.rejects(
      async () => {
        for await (const _ of src.chunks({ rows: 10_000, byte: 10 * text.length })) break;
      },
      (e: Error & { code?: string }) =>
        e.code === "E_PIPELINE_COMPRESSION" && e.message.includes(file) && /past its end/.test(e.message),
    );
  }
});

test("interrupted mid-file on a gzip input with a gzip output: --resume decompresses to the clean run's bytes", async () => {
  const input = path.join(dir, "resume.csv.gz");
  fs.writeFileSync(input, members(csvText, [50_000]));
  for (const ext of ["csv.gz", "jsonl.gz", "tsv.gz"]) {
    const clean = path.join(dir, `clean.${ext}`);
    await scoreFiles(options([input], clean));
    // gzip output: a valid (multi-member) gzip file holding the plain output
    const plainOut = path.join(dir, `clean-plain.${ext.replace(".gz", "")}`);
    await scoreFiles(options([input], plainOut));
    assert.ok(zlib.gunzipSync(fs.readFileSync(clean)).equals(fs.readFileSync(plainOut)), ext);
    if (ext === "tsv.gz")
      assert.match(fs.readFileSync(plainOut, "utf8"), /^id\tlogits\tprobabilities\n0\t"\[/);

    // stop after a few model calls: parts committed, cursor inside the gzip file
    const out = path.join(dir, `resumed.${ext}`);
    const controller = new AbortController();
    let calls = 0;
    const stopping: InferenceSession = Object.create(session, {
      run: {
        value: (...a: Parameters<InferenceSession["run"]>) => {
          if (++calls === 5) controller.abort();
          return session.run(...a);
        },
      },
    });
    await assert.rejects(
      scoreFiles({ ...options([input], out), session: stopping, signal: controller.signal }),
      (e: Error & { facts?: Record<string, unknown> }) => e.facts?.aborted === true,
    );
    const ckpt = JSON.parse(fs.readFileSync(`${out}.parts/checkpoint.json`, "utf8"));
    assert.ok(ckpt.cursor.rows > 0 && ckpt.cursor.rows < ROWS, JSON.stringify(ckpt.cursor));
    assert.ok(ckpt.cursor.byte > fs.statSync(input).size / 4, "the cursor counts decompressed bytes");
    assert.ok(ckpt.parts.every((p: { file: string }) => p.file.endsWith(".gz")));
    const s = await scoreFiles({ ...options([input], out), resume: true });
    assert.equal(s.rowsRead, ROWS);
    // the manifest counts each input's rows across the interrupted and the resumed run
    const manifest = JSON.parse(fs.readFileSync(`${out}.manifest.json`, "utf8"));
    assert.deepEqual(
      manifest.inputs.map((i: { rows: number | null }) => i.rows),
      [ROWS],
    );
    // the same bytes once decompressed (an interrupted run commits a shorter part: one more gzip member)
    assert.ok(
      zlib.gunzipSync(fs.readFileSync(out)).equals(zlib.gunzipSync(fs.readFileSync(clean))),
      `${ext}: resumed output differs`,
    );
  }
  // no rows (a header-only input): still a valid gzip file
  const headerOnly = path.join(dir, "header-only.csv.gz");
  fs.writeFileSync(headerOnly, zlib.gzipSync("id,x0,x1,x2,x3\n"));
  const empty = path.join(dir, "empty-out.jsonl.gz");
  const s = await scoreFiles(options([headerOnly], empty));
  assert.equal(s.rowsRead, 0);
  assert.equal(zlib.gunzipSync(fs.readFileSync(empty)).length, 0);
});

test("corrupt, truncated, mislabelled or unsupported compressed files fail with E_PIPELINE_COMPRESSION naming the file", async () => {
  const good = zlib.gzipSync(csvText);
  const flipped = Buffer.from(good);
  flipped[Math.floor(good.length / 2)]! ^= 0xff;
  const crc = Buffer.from(good);
  crc[good.length - 6]! ^= 1;
  const cases: [string, Buffer, RegExp][] = [
    ["truncated.csv.gz", good.subarray(0, good.length - 100), /truncated/],
    ["cut-member.csv.gz", Buffer.concat([good, good.subarray(0, 30)]), /truncated/],
    ["flipped.csv.gz", flipped, /corrupt gzip data/],
    ["crc.csv.gz", crc, /corrupt gzip data \(incorrect data check\)/],
    [
      "garbage-after.csv.gz",
      Buffer.concat([good, Buffer.from("not gzip at all\n")]),
      /after the last complete/,
    ],
    ["not-gzip.csv.gz", Buffer.from(csvText), /not gzip data/],
    ["zero-bytes.jsonl.gz", Buffer.alloc(0), /empty file, not gzip/],
    ["zstd-inside.csv", Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]), /zstd/],
    [
      "zip-inside.csv",
      Buffer.from("PK\x03\x04\x14\x00\x00\x00\x08\x00data", "latin1"),
      /a zip archive.*unzip/,
    ],
    [
      "xz-inside.jsonl",
      Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0, 0, 4, 0xe6, 0xd6, 0xb4]),
      /xz-compressed/,
    ],
    ["bz2-inside.csv", Buffer.from("BZh91AY&SY\x00\x01", "latin1"), /bzip2-compressed/],
    ["data.csv.zst", Buffer.from("x"), /zstd-compressed files are not read/],
    ["data.parquet.gz", zlib.gzipSync("x"), /gzip around Parquet is not read/],
  ];
  for (const [name, bytes, why] of cases) {
    const input = path.join(dir, name);
    fs.writeFileSync(input, bytes);
    const out = path.join(dir, `bad-${name}.csv`);
    await assert.rejects(
      scoreFiles({ ...options([input], out), partRows: 100_000 }),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, "E_PIPELINE_COMPRESSION", `${name}: ${e.message}`);
        assert.ok(e.message.includes(input), e.message);
        assert.match(e.message, why);
        return true;
      },
    );
    assert.ok(!fs.existsSync(out) && !fs.existsSync(`${out}.parts`), name);
  }
  // a .gz name without the format, and outputs that cannot be gzip
  const input = path.join(dir, "a.csv.gz");
  fs.writeFileSync(path.join(dir, "x.gz"), zlib.gzipSync(csvText));
  await assert.rejects(scoreFiles(options([path.join(dir, "x.gz")], path.join(dir, "o.csv"))), {
    code: "E_PIPELINE_FORMAT",
    message: /needs the format before \.gz/,
  });
  for (const [output, why] of [
    ["o.parquet.gz", /gzip around Parquet is not written/],
    ["o.csv.zst", /zstd-compressed output is not written/],
  ] as const) {
    await assert.rejects(scoreFiles(options([input], path.join(dir, output))), {
      code: "E_PIPELINE_COMPRESSION",
      message: why,
    });
    assert.ok(!fs.existsSync(path.join(dir, output)));
  }
});

test("the CLI reads a gzip glob and writes .csv.gz; a truncated input exits non-zero naming the file", () => {
  const cli = ["--import", "tsx", path.resolve("src/cli/main.ts"), "score"];
  const model = path.join(dir, "model.onnx");
  fs.writeFileSync(model, mlpClassifier({ inputDim: F, hidden: [8], classes: 3, seed: 2 }).bytes);
  const sub = path.join(dir, "cli");
  fs.mkdirSync(sub);
  fs.writeFileSync(path.join(sub, "p1.csv.gz"), zlib.gzipSync(csvText));
  fs.writeFileSync(path.join(sub, "p2.csv.gz"), members(csvText, [1000]));
  const out = path.join(dir, "cli-out.csv.gz");
  const base = [
    ...cli,
    "--model",
    model,
    "--columns",
    "x0,x1,x2,x3",
    "--key-columns",
    "id",
    "--progress",
    "none",
  ];
  const r = spawnSync(process.execPath, [...base, "--input", path.join(sub, "*.csv.gz"), "--output", out], {
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  const lines = zlib.gunzipSync(fs.readFileSync(out)).toString().trimEnd().split("\n");
  assert.equal(lines.length, 1 + 2 * ROWS);
  fs.writeFileSync(path.join(sub, "p3.csv.gz"), zlib.gzipSync(csvText).subarray(0, 5000));
  const t = spawnSync(
    process.execPath,
    [...base, "--input", path.join(sub, "p3.csv.gz"), "--output", path.join(dir, "cli-bad.csv")],
    { encoding: "utf8" },
  );
  assert.notEqual(t.status, 0);
  assert.match(t.stderr, /E_PIPELINE_COMPRESSION: .*p3\.csv\.gz: the gzip data ends before its end marker/);
});

test("an explicit outputFormat takes any output name; a .gz suffix still compresses it", async () => {
  const input = path.join(dir, "plain.csv");
  const odd = path.join(dir, "scores.out");
  await scoreFiles({ ...options([input], odd), outputFormat: "jsonl" });
  assert.equal(fs.readFileSync(odd, "utf8").trimEnd().split("\n").length, ROWS);
  const gz = path.join(dir, "scores.out.gz");
  await scoreFiles({ ...options([input], gz), outputFormat: "jsonl" });
  assert.ok(zlib.gunzipSync(fs.readFileSync(gz)).equals(fs.readFileSync(odd)));
});

test("a gzip sink whose file cannot take the compressed bytes (a full disk) fails its write or close with the error, not an uncaught exception", {
  skip: !fs.existsSync("/dev/full") && "no /dev/full",
}, async () => {
  const fields = [{ name: "x", kind: "float64" as const }];
  const small = await openSink("/dev/full", "jsonl", fields, { gzip: true });
  await small.write({
    numRows: 3,
    columns: new Map([
      ["x", { kind: "float64", length: 3, valid: null, values: new Float64Array([1, 2, 3]) }],
    ]),
  });
  await assert.rejects(small.close(), { code: "ENOSPC" });
  // large enough that zlib hands compressed bytes back while batches are still being written
  const rnd = lcg(5);
  const n = 200_000;
  const values = Float64Array.from({ length: n }, () => rnd());
  const big = await openSink("/dev/full", "csv", fields, { gzip: true });
  await assert.rejects(
    async () => {
      for (let i = 0; i < 20; i++)
        await big.write({
          numRows: n,
          columns: new Map([["x", { kind: "float64", length: n, valid: null, values }]]),
        });
    },
    { code: "ENOSPC" },
  );
  await assert.rejects(big.close(), { code: "ENOSPC" });
});
