// Inspect any .onnx file: opsets, inputs/outputs (symbolic dims kept), ops used, biggest initializers, metadata.
// Run: node --import tsx examples/onnx-inspect.ts path/to/model.onnx   (without a path: a zoo BERT encoder)
import { readFileSync } from "node:fs";
import { bertEncoder, decodeModel } from "../src/onnx/index.ts";

const path = process.argv[2];
const bytes = path
  ? new Uint8Array(readFileSync(path))
  : bertEncoder({ hidden: 64, layers: 2, heads: 4 }).bytes;
const info = decodeModel(bytes);

const mb = (n: number) => `${(n / 1e6).toFixed(2)} MB`;
console.log(
  `${path ?? "zoo bertEncoder"}: ${mb(info.byteSize)}, producer ${info.producer || "?"} ${info.producerVersion}`,
);
console.log(
  `IR ${info.irVersion}, opsets ${Object.entries(info.opsets)
    .map(([d, v]) => `${d || "ai.onnx"}=${v}`)
    .join(", ")}`,
);
const show = (v: (typeof info.inputs)[number]) =>
  `${v.name}: ${v.elemType ?? v.kind} [${v.dims?.map((d) => d ?? "?").join(", ") ?? "?"}]`;
for (const v of info.inputs) console.log(`  in  ${show(v)}`);
for (const v of info.outputs) console.log(`  out ${show(v)}`);
console.log(
  `${info.nodeCount} nodes: ${info.ops.map((o) => `${o.domain ? `${o.domain}.` : ""}${o.opType}×${o.count}`).join(" ")}`,
);
console.log(
  `${info.parameterCount.toLocaleString("en-US")} parameters, ${mb(info.initializerBytes)} of weights`,
);
const largest = [...info.initializers].sort((a, b) => b.byteSize - a.byteSize).slice(0, 3);
for (const t of largest)
  console.log(
    `  ${t.name}: ${t.elemType} [${t.dims.join(", ")}] ${mb(t.byteSize)}${t.external ? " (external)" : ""}`,
  );
for (const e of info.externalData) console.log(`  external: ${e.tensor} → ${e.location} @${e.offset}`);
for (const [k, v] of Object.entries(info.metadata))
  console.log(`  meta ${k} = ${v.length > 60 ? `${v.slice(0, 57)}...` : v}`);
