/** Writes a Parquet file of `rows` rows: id (int64) + `features` float32 columns. usage: generate.ts FILE ROWS FEATURES */
import * as fs from "node:fs";
import { writeFeatureParquet } from "../../test/pipeline/helpers.ts";

const [file, rowsArg, featuresArg] = process.argv.slice(2);
if (!fs.existsSync(file!)) {
  await writeFeatureParquet(`${file}.tmp`, Number(rowsArg), Number(featuresArg));
  fs.renameSync(`${file}.tmp`, file!);
}
