/**
 * Child process for memory tests: reads INPUT as a source (all its chunks, columns COLUMNS), and prints
 * `{"maxRssMB": ..., "rows": ...}` (process.resourceUsage().maxRSS of this whole process).
 * usage: node --import tsx test/pipeline/read-rss-child.ts INPUT COLUMNS
 */
import { openSource } from "../../src/pipeline/index.ts";

const [input, columns] = process.argv.slice(2);
const source = await openSource(input!, { columns: columns!.split(",") });
let rows = 0;
for await (const c of source.chunks()) rows += c.batch.numRows;
process.stdout.write(
  `${JSON.stringify({ maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024), rows })}\n`,
);
