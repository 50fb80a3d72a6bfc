// ONNX codec speed on a MiniLM-shaped model (22.7M float32 parameters, ~91 MB): zoo build, decodeModel,
// readInitializers, re-encode, against a memcpy of the same bytes and ONNX Runtime's own session creation.
// Run: node --import tsx bench/onnx/codec.ts [--reps 5]
import { existsSync, readFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import {
  bertEncoder,
  decodeModel,
  decodeModelProto,
  encodeModel,
  readInitializers,
} from "../../src/onnx/index.ts";

const repsArg = process.argv.indexOf("--reps");
const REPS = repsArg > 0 ? Number(process.argv[repsArg + 1]) : 5;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
async function time(
  fn: () => unknown | Promise<unknown>,
  reps = REPS,
): Promise<{ first: number; median: number }> {
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
  }
  return { first: ts[0]!, median: median(ts.slice(reps > 1 ? 1 : 0)) };
}

const t0 = performance.now();
const model = bertEncoder({
  vocabSize: 30522,
  hidden: 384,
  layers: 6,
  heads: 12,
  intermediate: 1536,
  maxPositions: 512,
});
const buildMs = performance.now() - t0;
const bytes = model.bytes;
const MB = bytes.byteLength / 1e6;
console.log(
  `model: MiniLM-shaped bertEncoder, ${MB.toFixed(1)} MB, built (22.7M seeded normals + encode) in ${buildMs.toFixed(0)} ms`,
);

const rows: [string, { first: number; median: number }][] = [];
const dst = new Uint8Array(bytes.byteLength);
dst.set(bytes); // fault the pages in once
rows.push(["memcpy into a preallocated buffer (baseline)", await time(() => dst.set(bytes))]);
rows.push(["copy into a new buffer (Buffer.from)", await time(() => Buffer.from(bytes))]);
rows.push(["decodeModel", await time(() => decodeModel(bytes))]);
rows.push(["readInitializers (decode + aligned copies)", await time(() => readInitializers(bytes))]);
const proto = decodeModelProto(bytes);
rows.push([
  "encodeModel (re-encode decoded proto, raw_data as Buffer views)",
  await time(() => encodeModel(proto)),
]);
// What GraphBuilder hands protobufjs: raw_data as plain Uint8Array views of tensor storage.
const plain = decodeModelProto(bytes);
for (const t of plain.graph?.initializer ?? []) {
  const r = t.raw_data!;
  t.raw_data = new Uint8Array(r.buffer, r.byteOffset, r.byteLength);
}
rows.push(["encodeModel (raw_data as plain Uint8Array views)", await time(() => encodeModel(plain))]);
rows.push([
  "ORT InferenceSession.create (reference)",
  await time(async () => {
    const s = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: 1,
      graphOptimizationLevel: "disabled",
    });
    await s.release();
  }, 3),
]);
const fixture = new URL("../.fixtures/minilm-shape/onnx/model.onnx", import.meta.url);
if (existsSync(fixture)) {
  const torchBytes = new Uint8Array(readFileSync(fixture));
  rows.push([
    `decodeModel on the torch-exported fixture (${(torchBytes.byteLength / 1e6).toFixed(1)} MB)`,
    await time(() => decodeModel(torchBytes)),
  ]);
}

const base = rows[0]![1].median;
console.log(`\n| step | first ms | median ms | GB/s | × memcpy time |`);
console.log(`|---|---|---|---|---|`);
for (const [name, t] of rows) {
  console.log(
    `| ${name} | ${t.first.toFixed(1)} | ${t.median.toFixed(1)} | ${(MB / 1e3 / (t.median / 1e3)).toFixed(2)} | ${(t.median / base).toFixed(1)} |`,
  );
}
console.log(
  `\nreps=${REPS} (median excludes the first run); node ${process.version}; shared 2-core machine, timings are noisy`,
);
