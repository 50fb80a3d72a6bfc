import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { Field, FixedSizeList, Float32, Int32, List, Table, tableToIPC, vectorFromArray } from "apache-arrow";
import { parquetWriteBuffer } from "hyparquet-writer";
import { GraphBuilder } from "../../src/onnx/index.ts";
import { scoreFiles } from "../../src/pipeline/index.ts";
import { type InferenceSession, openSession } from "../../src/runtime/index.ts";
import { readBatches, readJsonl, rowsOf, tmpDir } from "./helpers.ts";

const dir = tmpDir();
let session: InferenceSession;

before(async () => {
  const g = new GraphBuilder({ name: "identity", opset: 17 });
  g.input("x", "float32", ["batch", 2]);
  g.node("Identity", ["x"], ["y"]);
  g.output("y", "float32", ["batch", 2]);
  session = await openSession(g.toBytes(), { replicas: 1, intraOpThreads: 1 });
});
after(async () => {
  await session.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Row i: id i and a 2-list, except a null element (row 3), a short list (row 5), a long list (row 8), a null list (row 9). */
const ROWS = 12;
function listOf(i: number): (number | null)[] | null {
  if (i === 3) return [i, null];
  if (i === 5) return [i];
  if (i === 8) return [i, 1, 2];
  if (i === 9) return null;
  return [i, i + 0.5];
}
const GOOD = Array.from({ length: ROWS }, (_, i) => i).filter((i) => ![3, 5, 8, 9].includes(i));
const REASONS = [
  [3, "list element 1 is null"],
  [5, "expected a list of 2 numbers, got a list of 1"],
  [8, "expected a list of 2 numbers, got a list of 3"],
  [9, "null value"],
];

/** The identity model on column v of `input`, keyed by id, bad rows skipped. */
function identityOptions(input: string, output: string) {
  return {
    session,
    model: { name: "identity", version: "1", sha256: "x" },
    inputs: [input],
    output,
    columns: ["v"],
    keyColumns: ["id"],
    onError: "skip" as const,
    progress: false as const,
  };
}

async function scoreAndCheck(input: string, reasons = REASONS): Promise<void> {
  const output = path.join(dir, `${path.basename(input)}.jsonl`);
  const s = await scoreFiles({ ...identityOptions(input, output), batchSize: 4 });
  assert.equal(s.rowsScored, GOOD.length, input);
  assert.deepEqual(
    rowsOf(await readBatches(output), ["id", "y"]),
    GOOD.map((i) => [i, [i, i + 0.5]]),
  );
  const rejects = readJsonl(s.rejects!) as { row: number; column: string; reason: string }[];
  assert.deepEqual(
    rejects.map((r) => [r.row - 1, r.reason]),
    reasons,
  );
  assert.ok(rejects.every((r) => r.column === "v"));
}

test("Parquet list columns: a null element or another length rejects the row (never scored as 0), across row groups", async () => {
  const input = path.join(dir, "lists.parquet");
  const buf = parquetWriteBuffer({
    columnData: [
      { name: "id", data: Array.from({ length: ROWS }, (_, i) => i) },
      { name: "v", data: Array.from({ length: ROWS }, (_, i) => listOf(i) ?? undefined) },
    ],
    schema: [
      { name: "root", num_children: 2 },
      { name: "id", type: "INT32", repetition_type: "REQUIRED" },
      { name: "v", repetition_type: "OPTIONAL", converted_type: "LIST", num_children: 1 },
      { name: "list", repetition_type: "REPEATED", num_children: 1 },
      { name: "element", type: "FLOAT", repetition_type: "OPTIONAL" },
    ],
    rowGroupSize: 5,
  });
  fs.writeFileSync(input, new Uint8Array(buf));
  await scoreAndCheck(input);
});

test("Arrow IPC List and FixedSizeList columns: bad lists are rejected rows with the reason", async () => {
  const ids = vectorFromArray(
    Array.from({ length: ROWS }, (_, i) => i),
    new Int32(),
  );
  const list = path.join(dir, "lists.arrow");
  const listType = new List(new Field("item", new Float32(), true));
  fs.writeFileSync(
    list,
    tableToIPC(
      new Table({
        id: ids,
        v: vectorFromArray(
          Array.from({ length: ROWS }, (_, i) => listOf(i)),
          listType,
        ),
      }),
      "file",
    ),
  );
  await scoreAndCheck(list);
  // a FixedSizeList cannot be ragged, but its elements can be null
  const fixed = path.join(dir, "fixed.arrows");
  const fixedType = new FixedSizeList(2, new Field("item", new Float32(), true));
  const fixedRow = (i: number) => (i === 5 || i === 8 ? [i, i + 0.5] : listOf(i));
  fs.writeFileSync(
    fixed,
    tableToIPC(
      new Table({
        id: ids,
        v: vectorFromArray(
          Array.from({ length: ROWS }, (_, i) => fixedRow(i)),
          fixedType,
        ),
      }),
      "stream",
    ),
  );
  const output = path.join(dir, "fixed.jsonl");
  const s = await scoreFiles(identityOptions(fixed, output));
  assert.equal(s.rowsRejected, 2);
  const rows = rowsOf(await readBatches(output), ["id", "y"]);
  assert.deepEqual(
    rows.map((r) => r[0]),
    Array.from({ length: ROWS }, (_, i) => i).filter((i) => i !== 3 && i !== 9),
  );
});
