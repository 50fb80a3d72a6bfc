// Streaming batch scoring: write a CSV with a bad row, score it into Parquet with a labelled MLP
// (skipping the bad row into a rejects file), then read the predictions back.
//   node --import tsx examples/pipeline-score.ts
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { mlpClassifier } from "../src/onnx/index.ts";
import { cellValue, openSource, scoreFiles } from "../src/pipeline/index.ts";
import { openSession } from "../src/runtime/index.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tessera-score-"));
const input = path.join(dir, "customers.csv");
const lines = ["id,age,income,visits,plan"];
for (let i = 0; i < 1000; i++) lines.push(`${i},${20 + (i % 50)},${(i * 37) % 100},${i % 9},basic`);
lines[501] = "500,41,not-a-number,3,basic"; // a bad row
fs.writeFileSync(input, `${lines.join("\n")}\n`);

const mlp = mlpClassifier({ inputDim: 3, hidden: [8], classes: 3, seed: 1 });
const session = await openSession(mlp.bytes, { replicas: 1, intraOpThreads: 1 });
try {
  const output = path.join(dir, "scores.parquet");
  const summary = await scoreFiles({
    session,
    model: {
      name: "churn",
      version: "1",
      sha256: session.description.sha256,
      labels: ["stay", "maybe", "leave"],
    },
    inputs: [input],
    output,
    columns: ["age", "income", "visits"], // → one [rows, 3] float32 tensor, built column by column
    keyColumns: ["id"],
    outputs: ["probabilities"],
    batchSize: 256,
    onError: "skip",
    progress: false,
  });
  console.log(`scored ${summary.rowsScored} of ${summary.rowsRead} rows, rejected ${summary.rowsRejected}`);
  const reject = JSON.parse(fs.readFileSync(summary.rejects!, "utf8").trim());
  console.log(`reject: row ${reject.row}, column ${reject.column}: ${reject.reason}`);

  const src = await openSource(output);
  for await (const chunk of src.chunks()) {
    const b = chunk.batch;
    console.log(`columns: ${[...b.columns].map(([n, c]) => `${n}:${c.kind}`).join(" ")}`);
    const row = (name: string) => cellValue(b.columns.get(name)!, 0);
    const p = (row("probabilities") as number[]).map((x) => x.toFixed(3)).join(", ");
    console.log(`first row: id ${row("id")} → [${p}] ${row("label")}`);
    break;
  }
  const manifest = JSON.parse(fs.readFileSync(summary.manifest, "utf8"));
  console.log(
    `manifest: model ${manifest.model.name}@${manifest.model.version}, input sha256 ${manifest.inputs[0].sha256.slice(0, 12)}…`,
  );
} finally {
  await session.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
