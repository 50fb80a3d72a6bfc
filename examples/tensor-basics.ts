// Tensor basics: views without copies, broadcasting ops, reductions, matmul, seeded random numbers, safetensors.
//   node --import tsx examples/tensor-basics.ts
import {
  add,
  cosineSimilarity,
  matmul,
  mean,
  readSafetensors,
  rng,
  softmax,
  sum,
  tensor,
  topk,
  writeSafetensors,
} from "../src/tensor/index.ts";

const x = tensor([
  [1, 2, 3],
  [4, 5, 6],
]);
const t = x.transpose(); // a view: same storage, swapped strides
console.log(
  `x ${x}, x.T shape [${t.shape}] strides [${t.strides}], shares storage: ${t.storage === x.storage}`,
);
console.log("x[:, ::-1] =", JSON.stringify(x.slice(null, [null, null, -1]).toArray()));

console.log("x + [10, 20, 30] =", JSON.stringify(add(x, tensor([10, 20, 30])).toArray()));
console.log("sum over axis 0 =", JSON.stringify(sum(x, { axis: 0 }).toArray()), "mean =", mean(x).item());
console.log("x @ x.T =", JSON.stringify(matmul(x, t).toArray()));
console.log(
  "softmax rows =",
  JSON.stringify(Array.from(softmax(tensor([[1, 2, 3]])).data as Float32Array, (v) => v.toFixed(3))),
);

const g = rng(42); // Philox4x32-10: the same numbers on every machine
const emb = g.normal([4, 8]);
const sims = cosineSimilarity(emb, emb);
const best = topk(sims.select(0, 0), 2);
console.log(
  `rng(42).normal([4,8])[0,0] = ${Number(emb.get(0, 0)).toFixed(6)}; nearest to row 0: [${best.indices.toArray()}]`,
);

const bytes = writeSafetensors({ emb }, { created_by: "tensor-basics" });
const back = readSafetensors(bytes);
const e2 = back.tensors.get("emb")!;
console.log(
  `safetensors: ${bytes.length} bytes, metadata ${JSON.stringify(back.metadata)}, view of file: ${e2.storage.buffer === bytes.buffer}`,
);
