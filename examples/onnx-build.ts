// Build an ONNX model from TypeScript with GraphBuilder, encode it, and inspect the bytes with decodeModel.
// Run: node --import tsx examples/onnx-build.ts [out.onnx]
import { writeFileSync } from "node:fs";
import { decodeModel, GraphBuilder } from "../src/onnx/index.ts";
import { rng, scalar } from "../src/tensor/index.ts";

const g = new GraphBuilder({ name: "tiny_classifier", opset: 17, domainOpsets: { "com.microsoft": 1 } });
g.input("features", "float32", ["batch", 4]); // "batch" is a symbolic dim

const gen = rng(0);
const w1 = g.initializer("dense1.weight", gen.normal([4, 8], { std: 0.5 }));
const b1 = g.initializer("dense1.bias", gen.normal([8], { std: 0.1 }));
const w2 = g.initializer("dense2.weight", gen.normal([8, 3], { std: 0.5 }));

const h = g.op("Add", [g.op("MatMul", ["features", w1]), b1]);
const act = g.op("Gelu", [h], {}, { domain: "com.microsoft" }); // a com.microsoft contrib op
const scaled = g.op("Mul", [act, g.constant(scalar(2))]);
const logits = g.op("MatMul", [scaled, w2], {}, { output: "logits" });
g.node("Softmax", [logits], ["probabilities"], { axis: -1 }); // axis: -1 → INT attribute
g.node("LeakyRelu", [logits], ["leaky"], { alpha: { type: "float", value: 1 } }); // force FLOAT for a whole number
g.output("logits", "float32", ["batch", 3]);
g.output("probabilities", "float32", ["batch", 3]);
g.output("leaky", "float32", ["batch", 3]);
g.metadata("description", "a GraphBuilder example");

const bytes = g.toBytes();
const out = process.argv[2];
if (out) writeFileSync(out, bytes);

const info = decodeModel(bytes);
console.log(`encoded ${bytes.byteLength} bytes, IR ${info.irVersion}, opsets ${JSON.stringify(info.opsets)}`);
for (const v of info.inputs) console.log(`input  ${v.name}: ${v.dtype} [${v.dims?.join(", ")}]`);
for (const v of info.outputs) console.log(`output ${v.name}: ${v.dtype} [${v.dims?.join(", ")}]`);
console.log(
  `ops: ${info.ops.map((o) => `${o.domain ? `${o.domain}.` : ""}${o.opType}×${o.count}`).join(" ")}`,
);
console.log(
  `parameters: ${info.parameterCount} in ${info.initializers.length} initializers (${info.initializerBytes} bytes)`,
);
console.log(`metadata: ${JSON.stringify(info.metadata)}`);
// prints:
// encoded 1015 bytes, IR 8, opsets {"":17,"com.microsoft":1}
// input  features: float32 [batch, 4]
// output logits: float32 [batch, 3]
// output probabilities: float32 [batch, 3]
// output leaky: float32 [batch, 3]
// ops: MatMul×2 Add×1 Constant×1 LeakyRelu×1 Mul×1 Softmax×1 com.microsoft.Gelu×1
// parameters: 64 in 3 initializers (256 bytes)
// metadata: {"description":"a GraphBuilder example"}
