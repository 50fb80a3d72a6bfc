/**
 * Messy CSV/JSONL as data engineers get it: feature columns whose first chunk is empty or full of junk, numbers
 * written by pandas/NumPy (inf, -inf, nan), hex-looking codes, classic Mac line endings.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, test } from "node:test";
import * as zlib from "node:zlib";
import { mlpClassifier } from "../../src/onnx/index.ts";
import { expandInputs, openSource, scoreFiles } from "../../src/pipeline/index.ts";
import { type InferenceSession, openSession } from "../../src/runtime/index.ts";
import { readJsonl, rowsOf, tmpDir } from "./helpers.ts";

const dir = tmpDir();
let session: InferenceSession;
before(async () => {
  session = await openSession(mlpClassifier({ inputDim: 2, hidden: [4], classes: 2, seed: 3 }).bytes, {
    replicas: 1,
    intraOpThreads: 1,
  });
});
after(async () => {
  await session.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function score(input: string, extra: Record<string, unknown> = {}) {
  return scoreFiles({
    session,
    model: { name: "mlp", version: "1", sha256: "x" },
    inputs: [input],
    output: `${input}.out.jsonl`,
    columns: ["a", "b"],
    keyColumns: ["id"],
    onError: "skip",
    source: { chunkBytes: 256 },
    progress: false,
    ...extra,
  });
}

test("a --columns feature column that is empty, or mostly junk, in the first chunk is still numeric: bad values are bad rows", async () => {
  // sparse: no value of "a" in the first chunks, numbers after
  const sparse = path.join(dir, "sparse.csv");
  let csv = "id,a,b\n";
  for (let i = 0; i < 200; i++) csv += `${i},${i < 100 ? "" : i},${i}\n`;
  fs.writeFileSync(sparse, csv);
  const s = await score(sparse);
  assert.deepEqual([s.rowsScored, s.rowsRejected], [100, 100]);
  assert.deepEqual(
    readJsonl(`${sparse}.out.jsonl`).map((r) => r.id),
    Array.from({ length: 100 }, (_, i) => 100 + i),
  );
  // junk: a third of "a" is "?" in JSONL and CSV
  for (const ext of ["csv", "jsonl"]) {
    const junk = path.join(dir, `junk.${ext}`);
    const rows = Array.from({ length: 60 }, (_, i) => ({ id: i, a: i % 3 === 0 ? "?" : i / 2, b: 1 }));
    fs.writeFileSync(
      junk,
      ext === "csv"
        ? `id,a,b\n${rows.map((r) => `${r.id},${r.a},${r.b}`).join("\n")}\n`
        : `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`,
    );
    const j = await score(junk);
    assert.deepEqual([j.rowsScored, j.rowsRejected], [40, 20], ext);
    const rejects = readJsonl(`${junk}.out.jsonl.rejects.jsonl`);
    assert.equal(rejects[0]!.reason, 'expected a number, got "?"');
    assert.equal(rejects[0]!.column, "a");
  }
  // without --columns the inference is unchanged: a text column is not a feature
  const text = path.join(dir, "text.csv");
  fs.writeFileSync(text, "id,a,b,name\n1,1,2,x\n2,3,4,y\n");
  const t = await score(text, { columns: undefined });
  assert.equal(t.rowsScored, 2);
});

test("numbers as pandas/NumPy write them (inf, -inf, Infinity, nan) are numbers; 0x10 / 0b1 are not", async () => {
  const file = path.join(dir, "special.csv");
  fs.writeFileSync(file, "id,a\n1,inf\n2,-inf\n3,+Infinity\n4,NaN\n5,-INF\n6, 2.5 \n7,0x10\n8,0b1\n9,1e3\n");
  const src = await openSource(file, { schema: [{ name: "a", kind: "float64" }], columns: ["a"] });
  const chunks = [];
  for await (const c of src.chunks()) chunks.push(c);
  const values = rowsOf(
    chunks.map((c) => c.batch),
    ["a"],
  ).map((r) => r[0]);
  assert.deepEqual(values, [
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    Number.POSITIVE_INFINITY,
    Number.NaN,
    Number.NEGATIVE_INFINITY,
    2.5,
    null,
    null,
    1000,
  ]);
  const problems = chunks.flatMap((c) => c.batch.problems ?? []);
  assert.deepEqual(
    problems.map((p) => p.reason),
    ['expected a number, got "0x10"', 'expected a number, got "0b1"'],
  );
});

test("a CSV with classic Mac (bare CR) line endings is refused by name instead of reading as zero rows", async () => {
  const file = path.join(dir, "mac.csv");
  fs.writeFileSync(file, "id,a,b\r1,1,2\r2,3,4\r");
  await assert.rejects(score(file), {
    code: "E_PIPELINE_FORMAT",
    message: /mac\.csv: lines end in a bare carriage return/,
  });
  // CRLF and a last line without its newline are fine
  const crlf = path.join(dir, "crlf.csv");
  fs.writeFileSync(crlf, "\ufeffid,a,b\r\n1,1,2\r\n2,3,4");
  const s = await score(crlf);
  assert.equal(s.rowsScored, 2);
});

test("UTF-16 (Excel 'Unicode Text') and Latin-1 files are refused by name, not read as garbage or with changed keys", async () => {
  const u16 = path.join(dir, "u16.csv");
  fs.writeFileSync(
    u16,
    Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("id,a,b\r\n1,1,2\r\n", "utf16le")]),
  );
  await assert.rejects(score(u16), { code: "E_PIPELINE_FORMAT", message: /u16\.csv: UTF-16 text/ });
  const latin1 = path.join(dir, "latin1.jsonl");
  fs.writeFileSync(latin1, Buffer.from('{"id":"ok","a":1,"b":2}\n{"id":"café","a":1,"b":2}\n', "latin1"));
  await assert.rejects(score(latin1), {
    code: "E_PIPELINE_FORMAT",
    message: /latin1\.jsonl: not UTF-8 text near byte 34 .*iconv/,
  });
  // a real U+FFFD (valid UTF-8) is text like any other
  const replacement = path.join(dir, "fffd.csv");
  fs.writeFileSync(replacement, "id,a,b\nx\uFFFDy,1,2\n");
  const s = await score(replacement);
  assert.equal(s.rowsScored, 1);
  assert.equal(readJsonl(`${replacement}.out.jsonl`)[0]!.id, "x\uFFFDy");
});

test("lines of only spaces in a CSV are skipped like blank lines; in a TSV a line of tabs is still a record", async () => {
  const csv = path.join(dir, "spaces.csv");
  fs.writeFileSync(csv, "id,a,b\n1,1,2\n  \n2,3,4\n \t\r\n\n3,5,6\n   ");
  const s = await score(csv, { onError: "fail" });
  assert.equal(s.rowsScored, 3);
  assert.deepEqual(
    readJsonl(`${csv}.out.jsonl`).map((r) => r.id),
    [1, 2, 3],
  );
  const tsv = path.join(dir, "tabs.tsv");
  fs.writeFileSync(tsv, "id\ta\tb\n1\t1\t2\n\t\t\n");
  const t = await score(tsv);
  assert.deepEqual([t.rowsScored, t.rowsRejected], [1, 1]);
});

test('a stray quote in an unquoted field (tv 5" screen) is kept as written, not a bad row; in a feature it is not a number', async () => {
  const file = path.join(dir, "inches.csv");
  fs.writeFileSync(file, 'id,a,b,desc\n1,1,2,tv 5" screen\n2,3,4,plain\n3,5",6,x\n');
  const s = await score(file, { keyColumns: ["id", "desc"] });
  assert.deepEqual([s.rowsScored, s.rowsRejected], [2, 1]);
  assert.deepEqual(
    readJsonl(`${file}.out.jsonl`).map((r) => r.desc),
    ['tv 5" screen', "plain"],
  );
  assert.deepEqual(
    readJsonl(`${file}.out.jsonl.rejects.jsonl`).map((r) => [r.row, r.column, r.reason]),
    [[3, "a", 'expected a number, got "5\\""']],
  );
});

test("missing values as R, Excel and database dumps write them (NA, #N/A, NULL) are nulls in number columns, text in text columns", async () => {
  const file = path.join(dir, "r-export.csv");
  // R's write.csv: quoted strings, NA for missing; the default feature columns (no --columns) are a and b
  let csv = '"id","a","b","region"\n';
  for (let i = 0; i < 40; i++)
    csv += `${i},${i % 4 === 0 ? "NA" : i},${i % 5 === 0 ? "#N/A" : i % 7 === 0 ? "NULL" : 1},"${i % 2 ? "NA" : "EU"}"\n`;
  fs.writeFileSync(file, csv);
  const s = await score(file, { columns: undefined, keyColumns: ["id", "region"] });
  const bad = Array.from({ length: 40 }, (_, i) => i).filter(
    (i) => i % 4 === 0 || i % 5 === 0 || i % 7 === 0,
  );
  assert.deepEqual([s.rowsScored, s.rowsRejected], [40 - bad.length, bad.length]);
  const rejects = readJsonl(`${file}.out.jsonl.rejects.jsonl`);
  assert.deepEqual(
    rejects.map((r) => r.row - 1),
    bad,
  );
  assert.ok(rejects.every((r) => r.reason === "null value"));
  assert.deepEqual(
    readJsonl(`${file}.out.jsonl`)
      .slice(0, 2)
      .map((r) => r.region),
    ["NA", "EU"],
  );
});

test("a JSONL feature left out of every object of the first chunk (Spark drops null fields) is read when it appears", async () => {
  const file = path.join(dir, "sparse.jsonl");
  const lines = Array.from({ length: 60 }, (_, i) =>
    JSON.stringify(i < 30 ? { id: i, a: i } : { id: i, a: i, b: 1 }),
  );
  fs.writeFileSync(file, `${lines.join("\n")}\n`);
  const s = await score(file);
  assert.deepEqual([s.rowsScored, s.rowsRejected], [30, 30]);
  const rejects = readJsonl(`${file}.out.jsonl.rejects.jsonl`);
  assert.deepEqual(
    [rejects[0]!.column, rejects[0]!.reason, rejects[0]!.line],
    ["b", 'no "b" key in the object', 1],
  );
  // a misspelt --columns name says which key is missing, at the first row
  await assert.rejects(score(file, { columns: ["a", "bee"], onError: "fail", overwrite: true }), {
    code: "E_PIPELINE_BAD_ROW",
    message: /row 1 \(line 1\), column "bee": no "bee" key in the object/,
  });
});

test("a --columns key that no JSONL object has fails the run naming it (skip would reject every row and exit 0); the stop for the first row says to check the spelling", async () => {
  const file = path.join(dir, "typo.jsonl");
  // long enough for several chunks and parts: the key is missing from all of them
  const lines = Array.from({ length: 60 }, (_, i) => JSON.stringify({ id: i, a: i, b: i % 3 }));
  fs.writeFileSync(file, `${lines.join("\n")}\n`);
  await assert.rejects(
    score(file, { columns: ["a", "bb"], partRows: 8 }),
    (e: Error & { code?: string; facts?: Record<string, unknown> }) => {
      assert.equal(e.code, "E_PIPELINE_MISSING_COLUMN");
      assert.match(e.message, /no row of the input has the key\(s\) "bb".*check the name in --columns/);
      assert.deepEqual(e.facts?.missing, ["bb"]);
      assert.equal(e.facts?.rowsRejected, 60);
      return true;
    },
  );
  assert.ok(!fs.existsSync(`${file}.out.jsonl`) && !fs.existsSync(`${file}.out.jsonl.parts`));
  // the corrected command runs as is
  const fixed = await score(file, { columns: ["a", "b"] });
  assert.deepEqual([fixed.rowsScored, fixed.rowsRejected], [60, 0]);
  await assert.rejects(
    score(file, { columns: ["a", "bb"], onError: "fail", overwrite: true }),
    (e: Error) => {
      assert.match(e.message, /no row so far has a "bb" key: check its spelling/);
      assert.doesNotMatch(e.message, /then --resume/);
      return true;
    },
  );
  // a key that appears after the first rows (sparse) is still bad rows, skipped as before; the stop at its
  // first absence cannot know it appears later, so it names both causes
  const late = path.join(dir, "late.jsonl");
  fs.writeFileSync(
    late,
    `${Array.from({ length: 20 }, (_, i) => JSON.stringify(i < 15 ? { id: i, a: i } : { id: i, a: i, b: 1 })).join("\n")}\n`,
  );
  const s = await score(late, { partRows: 4 });
  assert.deepEqual([s.rowsScored, s.rowsRejected], [5, 15]);
  // and one present in an early row only, absent after: sparse too
  const early = path.join(dir, "early.jsonl");
  fs.writeFileSync(
    early,
    `${Array.from({ length: 20 }, (_, i) => JSON.stringify(i === 0 ? { id: i, a: i, b: 1 } : { id: i, a: i })).join("\n")}\n`,
  );
  const s2 = await score(early, { partRows: 4 });
  assert.deepEqual([s2.rowsScored, s2.rowsRejected], [1, 19]);
});

test("JSONL from Python's json.dumps with bare NaN / Infinity / -Infinity reads them as numbers, not invalid JSON", async () => {
  const file = path.join(dir, "python.jsonl");
  fs.writeFileSync(
    file,
    '{"id":1,"a":NaN,"b":1}\n{"id":2,"a":-Infinity,"b":Infinity}\n{"id":3,"a":1,"b":2,"note":"NaN or -Infinity"}\n{"id":4,"a":NaNa}\n',
  );
  const src = await openSource(file, { columns: ["id", "a", "b", "note"] });
  const chunks = [];
  for await (const c of src.chunks()) chunks.push(c);
  assert.deepEqual(
    rowsOf(
      chunks.map((c) => c.batch),
      ["id", "a", "b", "note"],
    ),
    [
      [1, Number.NaN, 1, null],
      [2, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, null],
      [3, 1, 2, "NaN or -Infinity"],
      [null, null, null, null],
    ],
  );
  const problems = chunks.flatMap((c) => c.batch.problems ?? []);
  assert.equal(problems.length, 1);
  assert.match(problems[0]!.reason, /^invalid JSON/);
});

test("a feature width mismatch names the columns that were picked (by default every numeric column not a key)", async () => {
  const file = path.join(dir, "extra.csv");
  fs.writeFileSync(file, "id,a,b,c\n1,1,2,3\n");
  await assert.rejects(score(file, { columns: undefined }), {
    code: "E_PIPELINE_FEATURES",
    message:
      /the mapped columns \(a, b, c\) give \[rows, 3\]; choose the feature columns with --columns \(2 values/,
  });
});

test("a null feature's reject names the row's line, also after quoted newlines and across chunks", async () => {
  const file = path.join(dir, "lines.csv");
  let csv = "id,a,b,desc\n";
  for (let i = 1; i <= 100; i++) csv += `${i},${i === 77 ? "" : i},1,"two\nlines"\n`;
  fs.writeFileSync(file, csv);
  const s = await score(file, { batchSize: 64 });
  assert.equal(s.rowsRejected, 1);
  const [reject] = readJsonl(`${file}.out.jsonl.rejects.jsonl`);
  assert.deepEqual([reject!.row, reject!.line, reject!.reason], [77, 2 + 76 * 2, "null value"]);
  await assert.rejects(score(file, { onError: "fail", overwrite: true }), {
    code: "E_PIPELINE_BAD_ROW",
    message: /row 77 \(line 154\), column "a": null value/,
  });
});

test("empty CSV files in a glob (Spark writes one per empty partition) are inputs of no rows, not a failed job", async () => {
  const folder = path.join(dir, "spark-out");
  fs.mkdirSync(folder);
  fs.writeFileSync(path.join(folder, "part-00000.csv"), "id,a,b\n1,1,2\n");
  fs.writeFileSync(path.join(folder, "part-00001.csv"), "");
  fs.writeFileSync(path.join(folder, "part-00002.csv"), "\n  \n");
  fs.writeFileSync(path.join(folder, "part-00003.csv.gz"), zlib.gzipSync(""));
  fs.writeFileSync(path.join(folder, "part-00004.csv"), "id,a,b\n2,3,4\n");
  const inputs = expandInputs([path.join(folder, "*.csv"), path.join(folder, "*.csv.gz")]);
  assert.equal(inputs.length, 5);
  const s = await score(inputs[0]!, { inputs });
  assert.deepEqual([s.rowsRead, s.rowsScored], [2, 2]);
  // only empty files: an empty output, not an error
  const none = await score(inputs[1]!, { inputs: [inputs[1]!], output: path.join(dir, "none.jsonl") });
  assert.equal(none.rowsRead, 0);
});

test("stop at a bad row, then --resume --on-error skip: the rejects (with their lines) equal a clean skip run's", async () => {
  for (const ext of ["csv", "jsonl"]) {
    const file = path.join(dir, `multiline.${ext}`);
    let text = ext === "csv" ? "id,a,b,desc\n" : "";
    for (let i = 1; i <= 300; i++) {
      const a = i % 60 === 0 ? "" : String(i);
      text +=
        ext === "csv"
          ? `${i},${a},1,"line one\nline two"\n${i % 7 === 0 ? "\n" : ""}`
          : `${JSON.stringify({ id: i, a: a === "" ? null : i, b: 1 })}\n${i % 7 === 0 ? "\n" : ""}`;
    }
    fs.writeFileSync(file, text);
    const clean = path.join(dir, `multiline-clean.${ext}.jsonl`);
    await score(file, { output: clean, batchSize: 16 });
    const out = path.join(dir, `multiline-resumed.${ext}.jsonl`);
    await assert.rejects(score(file, { output: out, batchSize: 16, onError: "fail" }), {
      code: "E_PIPELINE_BAD_ROW",
    });
    await score(file, { output: out, batchSize: 16, resume: true });
    assert.deepEqual(readJsonl(`${out}.rejects.jsonl`), readJsonl(`${clean}.rejects.jsonl`), ext);
    assert.equal(readJsonl(`${clean}.rejects.jsonl`)[1]!.line, ext === "csv" ? 2 + 119 * 2 + 17 : 120 + 17);
  }
});

test("a .jsonl file holding a JSON array or pretty-printed JSON is refused with the jq command, not read as bad rows", async () => {
  const array = path.join(dir, "array.jsonl");
  fs.writeFileSync(array, '[{"id":1,"a":1,"b":2},\n {"id":2,"a":1,"b":2}]\n');
  await assert.rejects(score(array, { onError: "skip" }), {
    code: "E_PIPELINE_FORMAT",
    message: /array\.jsonl: a JSON array, not JSON Lines .*jq -c '\.\[\]'/,
  });
  const pretty = path.join(dir, "pretty.jsonl");
  fs.writeFileSync(pretty, '\n{\n  "id": 1,\n  "a": 1,\n  "b": 2\n}\n');
  await assert.rejects(score(pretty, { onError: "skip" }), {
    code: "E_PIPELINE_FORMAT",
    message: /pretty\.jsonl: pretty-printed JSON, not JSON Lines/,
  });
});

test("Spark's JSON output (JSON Lines named part-*.json, or .json.gz) is read as JSONL; a .json output is refused by name", async () => {
  const folder = path.join(dir, "spark-json");
  fs.mkdirSync(folder);
  fs.writeFileSync(path.join(folder, "part-00000.json"), '{"id":1,"a":1,"b":2}\n{"id":2,"a":3,"b":4}\n');
  fs.writeFileSync(path.join(folder, "part-00001.json.gz"), zlib.gzipSync('{"id":3,"a":5,"b":6}\n'));
  const inputs = expandInputs([path.join(folder, "part-*")]);
  const s = await score(inputs[0]!, { inputs });
  assert.equal(s.rowsScored, 3);
  await assert.rejects(score(inputs[0]!, { output: path.join(dir, "scores.json") }), {
    code: "E_PIPELINE_FORMAT",
    message: /scores\.json: predictions are written as JSON Lines .*name the output \.jsonl/,
  });
});

test("scoreFiles with an input path that does not exist fails with E_PIPELINE_NO_INPUT naming it (was a bare ENOENT)", async () => {
  const missing = path.join(dir, "no-such-file.csv");
  await assert.rejects(score(missing, { output: path.join(dir, "no-such-out.jsonl") }), {
    code: "E_PIPELINE_NO_INPUT",
    message: /no-such-file\.csv/,
  });
  assert.ok(!fs.existsSync(path.join(dir, "no-such-out.jsonl.parts")));
});
