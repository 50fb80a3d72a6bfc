// Load generator process for bench/server/server.ts: runs autocannon with a body read from a file as bytes
// (the autocannon CLI reads -i as utf8, which corrupts binary bodies) and prints the result as JSON.
//   node bench/server/autocannon-child.mjs '{"url":..., "connections":64, "duration":8, "method":"POST", "headers":{...}, "bodyFile":"..."}'
import { readFileSync } from "node:fs";
import autocannon from "autocannon";

const opts = JSON.parse(process.argv[2]);
const { bodyFile, ...rest } = opts;
const r = await autocannon({ ...rest, body: readFileSync(bodyFile) });
process.stdout.write(JSON.stringify(r));
