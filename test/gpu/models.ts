/**
 * The model suite every execution provider runs (test/gpu and bench/gpu): models built with the graph
 * builder from seeded random weights, plus deterministic inputs for them.
 *
 *  - mlp:     x float32 [batch, 16] → MatMul/Add/Relu → MatMul/Add → Softmax → probs [batch, 4]
 *  - encoder: BERT-style (input_ids, attention_mask, token_type_ids int64 [batch, seq] → last_hidden_state
 *             float32 [batch, seq, hidden]); embeddings (word + position + type), then per layer
 *             self-attention with an additive padding mask, LayerNormalization, exact-erf GELU feed-forward.
 *             Only default-domain ops (com.microsoft Attention falls back to CPU on webgpu).
 *  - mlpF16:  the MLP in float16 end to end (x float16 [batch, 16] → probs float16 [batch, 4]).
 */
import { GraphBuilder } from "../../src/onnx/index.ts";
import { cast, f32ArrayToF16, rng, Tensor, tensor } from "../../src/tensor/index.ts";

function weight(seed: number, shape: readonly number[], std: number): Tensor {
  return rng(seed).normal(shape, { std });
}

/** The MLP's float32 weights (seeded): w1 [16, 32], b1 [32], w2 [32, 4], b2 [4]. */
export function mlpWeights(): { w1: Tensor; b1: Tensor; w2: Tensor; b2: Tensor } {
  return {
    w1: weight(1, [16, 32], 0.5),
    b1: weight(2, [32], 0.1),
    w2: weight(3, [32, 4], 0.5),
    b2: weight(4, [4], 0.1),
  };
}

/** A small MLP classifier: 16 → 32 → 4 with ReLU and Softmax, all in `dtype` (weights cast to float16 for "float16"). */
export function mlpModel(dtype: "float32" | "float16" = "float32"): Uint8Array {
  const g = new GraphBuilder({ name: `mlp_${dtype}`, opset: 17 });
  const w = mlpWeights();
  const init = (name: keyof typeof w) =>
    g.initializer(name, dtype === "float16" ? cast(w[name], "float16") : w[name]);
  g.input("x", dtype, ["batch", 16]);
  const h = g.op("Relu", [g.op("Add", [g.op("MatMul", ["x", init("w1")]), init("b1")])]);
  const logits = g.op("Add", [g.op("MatMul", [h, init("w2")]), init("b2")]);
  g.node("Softmax", [logits], ["probs"], { axis: -1 });
  g.output("probs", dtype, ["batch", 4]);
  return g.toBytes();
}

export interface EncoderShape {
  readonly vocab: number;
  readonly hidden: number;
  readonly heads: number;
  readonly ffn: number;
  readonly layers: number;
  readonly maxPositions: number;
}

/** The test encoder: small enough that webgpu-on-lavapipe runs it in milliseconds. */
export const SMALL_ENCODER: EncoderShape = {
  vocab: 128,
  hidden: 64,
  heads: 4,
  ffn: 128,
  layers: 2,
  maxPositions: 64,
};

/** A BERT-style encoder with an attention mask (see the module comment). */
export function encoderModel(shape: EncoderShape = SMALL_ENCODER): Uint8Array {
  const { vocab, hidden: H, heads, ffn, layers, maxPositions } = shape;
  const d = H / heads;
  if (!Number.isInteger(d)) throw new Error(`hidden ${H} is not divisible by heads ${heads}`);
  const g = new GraphBuilder({ name: "encoder", opset: 17 });
  let seed = 100;
  const w = (shp: number[], std = 0.05) => g.initializer(g.uniqueName("w"), weight(seed++, shp, std));
  const c = (t: Tensor) => g.constant(t);
  const ln = (x: string) =>
    g.op("LayerNormalization", [x, c(tensor(new Float32Array(H).fill(1))), c(tensor(new Float32Array(H)))], {
      axis: -1,
      epsilon: 1e-12,
    });

  g.input("input_ids", "int64", ["batch", "sequence"]);
  g.input("attention_mask", "int64", ["batch", "sequence"]);
  g.input("token_type_ids", "int64", ["batch", "sequence"]);

  // Embeddings: word + position (0..seq-1) + token type, then LayerNorm.
  const seqLen = g.op("Gather", [g.op("Shape", ["input_ids"]), c(tensor(1n, "int64"))], { axis: 0 });
  const positions = g.op("Unsqueeze", [
    g.op("Range", [c(tensor(0n, "int64")), seqLen, c(tensor(1n, "int64"))]),
    c(tensor([0n], "int64")),
  ]);
  const word = g.op("Gather", [w([vocab, H], 0.5), "input_ids"]);
  const pos = g.op("Gather", [w([maxPositions, H], 0.5), positions]);
  const typ = g.op("Gather", [w([2, H], 0.5), "token_type_ids"]);
  let x = ln(g.op("Add", [g.op("Add", [word, pos]), typ]));

  // Additive mask [batch, 1, 1, seq]: 0 where attended, -10000 where padded.
  const maskF = g.op("Cast", ["attention_mask"], { to: 1 });
  const ext = g.op("Mul", [g.op("Sub", [c(tensor(1)), maskF]), c(tensor(-10000))]);
  const ext4 = g.op("Unsqueeze", [ext, c(tensor([1n, 2n], "int64"))]);
  const headsShape = c(tensor([0n, 0n, BigInt(heads), BigInt(d)], "int64"));
  const mergedShape = c(tensor([0n, 0n, BigInt(H)], "int64"));
  const scale = c(tensor(1 / Math.sqrt(d)));

  for (let l = 0; l < layers; l++) {
    const proj = (input: string, inDim: number, outDim: number) =>
      g.op("Add", [g.op("MatMul", [input, w([inDim, outDim])]), w([outDim], 0.02)]);
    const split = (t: string, perm: number[]) =>
      g.op("Transpose", [g.op("Reshape", [t, headsShape])], { perm });
    const q = split(proj(x, H, H), [0, 2, 1, 3]); // [b, h, s, d]
    const k = split(proj(x, H, H), [0, 2, 3, 1]); // [b, h, d, s]
    const v = split(proj(x, H, H), [0, 2, 1, 3]);
    const scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k]), scale]), ext4]);
    const probs = g.op("Softmax", [scores], { axis: -1 });
    const ctx = g.op("Reshape", [
      g.op("Transpose", [g.op("MatMul", [probs, v])], { perm: [0, 2, 1, 3] }),
      mergedShape,
    ]);
    x = ln(g.op("Add", [x, proj(ctx, H, H)]));
    const up = proj(x, H, ffn);
    // Exact GELU: 0.5 · x · (1 + erf(x / √2)).
    const gelu = g.op("Mul", [
      g.op("Mul", [up, c(tensor(0.5))]),
      g.op("Add", [c(tensor(1)), g.op("Erf", [g.op("Div", [up, c(tensor(Math.SQRT2))])])]),
    ]);
    x = ln(g.op("Add", [x, proj(gelu, ffn, H)]));
  }
  g.node("Identity", [x], ["last_hidden_state"]);
  g.output("last_hidden_state", "float32", ["batch", "sequence", H]);
  return g.toBytes();
}

export interface EncoderInputs {
  readonly input_ids: Tensor;
  readonly attention_mask: Tensor;
  readonly token_type_ids: Tensor;
}

/**
 * Deterministic encoder inputs: row b has length `seq - (b * 3) % seq` (at least 1) followed by padding,
 * ids from a seeded generator in [1, vocab), token type 1 on the second half of each row.
 */
export function encoderInputs(batch: number, seq: number, vocab: number, seed = 7): EncoderInputs {
  const gen = rng(seed);
  const ids = new BigInt64Array(batch * seq);
  const mask = new BigInt64Array(batch * seq);
  const types = new BigInt64Array(batch * seq);
  for (let b = 0; b < batch; b++) {
    const len = Math.max(1, seq - ((b * 3) % seq));
    for (let s = 0; s < seq; s++) {
      const i = b * seq + s;
      if (s < len) {
        ids[i] = BigInt(1 + gen.nextBelow(vocab - 1));
        mask[i] = 1n;
        types[i] = s >= len / 2 ? 1n : 0n;
      }
    }
  }
  return {
    input_ids: Tensor.wrap(ids, [batch, seq], "int64"),
    attention_mask: Tensor.wrap(mask, [batch, seq], "int64"),
    token_type_ids: Tensor.wrap(types, [batch, seq], "int64"),
  };
}

/** Deterministic MLP input x [batch, 16] in float32, or its float16 bits (Uint16Array) for the fp16 model. */
export function mlpInput(batch: number, dtype: "float32" | "float16" = "float32", seed = 11): Tensor {
  const x = rng(seed).normal([batch, 16]);
  if (dtype === "float32") return x;
  return Tensor.wrap(f32ArrayToF16(x.data as Float32Array), [batch, 16], "float16");
}
