/** Writes a Parquet file of `rows` rows: id (int64) + `features` float32 columns. usage: generate.ts FILE ROWS FEATURES */
import * as fs from "node:fs";
import { type Column, type FieldSpec, openSink } from "../../src/pipeline/index.ts";

const [file, rowsArg, featuresArg] = process.argv.slice(2);
const rows = Number(rowsArg);
const features = Number(featuresArg);
if (!fs.existsSync(file!)) {
  let s = rows + features;
  const rnd = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
  const fields: FieldSpec[] = [
    { name: "id", kind: "int64" },
    ...Array.from({ length: features }, (_, f) => ({ name: `f${f}`, kind: "float32" as const })),
  ];
  const sink = await openSink(`${file}.tmp`, "parquet", fields, { rowGroupRows: 65536 });
  for (let start = 0; start < rows; start += 65536) {
    const n = Math.min(65536, rows - start);
    const cols = new Map<string, Column>();
    cols.set("id", {
      kind: "int64",
      length: n,
      valid: null,
      values: new BigInt64Array(n).map((_, i) => BigInt(start + i)),
    });
    for (let f = 0; f < features; f++)
      cols.set(`f${f}`, {
        kind: "float32",
        length: n,
        valid: null,
        values: new Float32Array(n).map(() => rnd() * 2 - 1),
      });
    await sink.write({ numRows: n, columns: cols });
  }
  await sink.close();
  fs.renameSync(`${file}.tmp`, file!);
}
