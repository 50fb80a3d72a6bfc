/**
 * bertEncoder / crossEncoder: a small BERT built from standard ONNX ops (opset 17), with exactly the math of
 * Hugging Face `BertModel` (post-LayerNorm, exact erf GELU, no pooler) and of shared/fixtures/make_fixture.py.
 *
 * Inputs: input_ids, attention_mask, token_type_ids — int64 [batch, sequence].
 * Math, with H = hidden, d = H / heads, weights stored [in, out] (a Dense is `x @ W + b`):
 *   x = LN_emb(word[input_ids] + position[0..S-1] + token_type[token_type_ids])
 *   mask_add[b, k] = (1 - attention_mask[b, k]) * -3.4028234663852886e38   (float32 min, as HF)
 *   per layer:
 *     q, k, v = x @ Wq + bq, x @ Wk + bk, x @ Wv + bv, split into heads of size d
 *     p = softmax(q kᵀ / √d + mask_add, over keys); a = concat_heads(p v) @ Wo + bo
 *     x = LN_attn(a + x);  f = gelu(x @ Wi + bi) @ Wf + bf  with gelu(z) = z · ½(1 + erf(z / √2))
 *     x = LN_out(f + x)
 *   last_hidden_state = x  (float32 [batch, sequence, hidden])
 * LayerNorm over the last axis with epsilon `layerNormEps` (biased variance).
 * crossEncoder adds: logits = x[:, 0, :] @ classifier.weight + classifier.bias  ([batch, labels]).
 *
 * Weights are drawn in declaration order from `rng(seed)`: matrices and embeddings ~ N(0, initStd²);
 * biases ~ N(0, initStd²); LayerNorm weights ~ N(1, initStd²), LayerNorm biases ~ N(0, initStd²) (random rather
 * than 1/0 so that tests catch a dropped bias or gain). Names follow Hugging Face (`encoder.layer.0.attention.self.query.weight`).
 */
import { scalar, tensor } from "../../tensor/index.ts";
import { GraphBuilder } from "../builder.ts";
import { buildError } from "../errors.ts";
import {
  declare,
  positiveInt,
  WeightMaker,
  type ZooModel,
  type ZooTensorSpec,
  zooMetadata,
} from "./common.ts";

export interface BertConfig {
  readonly vocabSize: number;
  readonly hidden: number;
  readonly layers: number;
  readonly heads: number;
  readonly intermediate: number;
  readonly maxPositions: number;
  readonly typeVocabSize: number;
  readonly layerNormEps: number;
  readonly initStd: number;
  readonly seed: number;
  readonly opset: number;
}

export interface CrossEncoderConfig extends BertConfig {
  /** Output width of the classifier (default 1: one relevance score). */
  readonly labels: number;
}

/** float32's most negative finite value: the additive mask for padded keys (HF BertModel). */
export const MASK_FILL = -3.4028234663852886e38;

function resolveBert(o: Partial<BertConfig>): BertConfig {
  const hidden = o.hidden ?? 64;
  const c: BertConfig = {
    vocabSize: o.vocabSize ?? 1000,
    hidden,
    layers: o.layers ?? 2,
    heads: o.heads ?? 4,
    intermediate: o.intermediate ?? 4 * hidden,
    maxPositions: o.maxPositions ?? 128,
    typeVocabSize: o.typeVocabSize ?? 2,
    layerNormEps: o.layerNormEps ?? 1e-12,
    initStd: o.initStd ?? 0.02,
    seed: o.seed ?? 0,
    opset: o.opset ?? 17,
  };
  const f = "bertEncoder";
  for (const k of [
    "vocabSize",
    "hidden",
    "layers",
    "heads",
    "intermediate",
    "maxPositions",
    "typeVocabSize",
  ] as const)
    positiveInt(f, k, c[k]);
  if (c.hidden % c.heads !== 0) {
    throw buildError(`${f}: hidden (${c.hidden}) must be divisible by heads (${c.heads})`, {
      hidden: c.hidden,
      heads: c.heads,
    });
  }
  if (c.opset < 17)
    throw buildError(`${f}: opset must be >= 17 (LayerNormalization), got ${c.opset}`, { opset: c.opset });
  return c;
}

const BERT_INPUTS: ZooTensorSpec[] = ["input_ids", "attention_mask", "token_type_ids"].map((name) => ({
  name,
  dtype: "int64",
  dims: ["batch", "sequence"],
}));

/** Builds the encoder body into `g` (inputs already declared); returns the name of the last hidden state. */
function buildEncoder(g: GraphBuilder, w: WeightMaker, c: BertConfig, outputName: string): string {
  const H = c.hidden;
  const d = H / c.heads;
  const std = c.initStd;
  const dense = (x: string, prefix: string, fanIn: number, fanOut: number, output?: string) => {
    const weight = w.normal(`${prefix}.weight`, [fanIn, fanOut], std);
    const bias = w.normal(`${prefix}.bias`, [fanOut], std);
    return g.op("Add", [g.op("MatMul", [x, weight]), bias], {}, output !== undefined ? { output } : {});
  };
  const layerNorm = (x: string, prefix: string, output?: string) => {
    const gamma = w.normal(`${prefix}.weight`, [H], std, 1);
    const beta = w.normal(`${prefix}.bias`, [H], std);
    return g.op(
      "LayerNormalization",
      [x, gamma, beta],
      { axis: -1, epsilon: c.layerNormEps },
      output !== undefined ? { output } : {},
    );
  };

  // Embeddings: word + position + token type, then LayerNorm.
  const word = w.normal("embeddings.word_embeddings.weight", [c.vocabSize, H], std);
  const pos = w.normal("embeddings.position_embeddings.weight", [c.maxPositions, H], std);
  const type = w.normal("embeddings.token_type_embeddings.weight", [c.typeVocabSize, H], std);
  const seqLen = g.op(
    "Gather",
    [g.op("Shape", ["input_ids"]), g.constant(scalar(1n, "int64"), "const_seq_axis")],
    { axis: 0 },
  );
  const positionIds = g.op("Range", [
    g.constant(scalar(0n, "int64"), "const_zero_i64"),
    seqLen,
    g.constant(scalar(1n, "int64"), "const_one_i64"),
  ]);
  const emb = g.op("Add", [
    g.op("Add", [
      g.op("Gather", [word, "input_ids"], { axis: 0 }),
      g.op("Gather", [pos, positionIds], { axis: 0 }),
    ]),
    g.op("Gather", [type, "token_type_ids"], { axis: 0 }),
  ]);
  let x = layerNorm(emb, "embeddings.LayerNorm");

  // Additive attention mask [batch, 1, 1, sequence].
  const maskF = g.op("Cast", ["attention_mask"], { to: 1 });
  const one = g.constant(scalar(1, "float32"), "const_one_f32");
  const maskAdd = g.op("Unsqueeze", [
    g.op("Mul", [g.op("Sub", [one, maskF]), g.constant(scalar(MASK_FILL, "float32"), "const_mask_fill")]),
    g.constant(tensor([1n, 2n], "int64"), "const_mask_axes"),
  ]);

  const splitShape = g.constant(tensor([0n, 0n, BigInt(c.heads), BigInt(d)], "int64"), "const_split_heads");
  const mergeShape = g.constant(tensor([0n, 0n, BigInt(H)], "int64"), "const_merge_heads");
  const sqrtD = g.constant(scalar(Math.sqrt(d), "float32"), "const_sqrt_head_dim");
  const sqrt2 = g.constant(scalar(Math.SQRT2, "float32"), "const_sqrt2");
  const half = g.constant(scalar(0.5, "float32"), "const_half");

  for (let l = 0; l < c.layers; l++) {
    const p = `encoder.layer.${l}`;
    const heads = (name: string, perm: number[]) =>
      g.op("Transpose", [g.op("Reshape", [dense(x, `${p}.attention.self.${name}`, H, H), splitShape])], {
        perm,
      });
    const q = heads("query", [0, 2, 1, 3]); // [B, nh, S, d]
    const kT = heads("key", [0, 2, 3, 1]); // [B, nh, d, S]
    const v = heads("value", [0, 2, 1, 3]);
    const scores = g.op("Add", [g.op("Div", [g.op("MatMul", [q, kT]), sqrtD]), maskAdd]);
    const probs = g.op("Softmax", [scores], { axis: -1 });
    const ctx = g.op("Reshape", [
      g.op("Transpose", [g.op("MatMul", [probs, v])], { perm: [0, 2, 1, 3] }),
      mergeShape,
    ]);
    const attn = dense(ctx, `${p}.attention.output.dense`, H, H);
    x = layerNorm(g.op("Add", [attn, x]), `${p}.attention.output.LayerNorm`);
    const inter = dense(x, `${p}.intermediate.dense`, H, c.intermediate);
    const gelu = g.op("Mul", [
      g.op("Mul", [inter, g.op("Add", [g.op("Erf", [g.op("Div", [inter, sqrt2])]), one])]),
      half,
    ]);
    const ffn = dense(gelu, `${p}.output.dense`, c.intermediate, H);
    x = layerNorm(
      g.op("Add", [ffn, x]),
      `${p}.output.LayerNorm`,
      l === c.layers - 1 ? outputName : undefined,
    );
  }
  return x;
}

/** A small BERT-style encoder (defaults: vocab 1000, hidden 64, 2 layers, 4 heads). */
export function bertEncoder(options: Partial<BertConfig> = {}): ZooModel<BertConfig> {
  const config = resolveBert(options);
  const g = new GraphBuilder({ name: "bert_encoder", opset: config.opset });
  const w = new WeightMaker(g, config.seed);
  const outputs: ZooTensorSpec[] = [
    { name: "last_hidden_state", dtype: "float32", dims: ["batch", "sequence", config.hidden] },
  ];
  declare(g, "input", BERT_INPUTS);
  buildEncoder(g, w, config, "last_hidden_state");
  declare(g, "output", outputs);
  const name = "bert-encoder";
  const metadata = zooMetadata(
    g,
    name,
    `synthetic BERT encoder: ${config.layers} layers, hidden ${config.hidden}, ${config.heads} heads, random weights`,
    config,
  );
  return { name, bytes: g.toBytes(), config, weights: w.weights, inputs: BERT_INPUTS, outputs, metadata };
}

/** A cross-encoder for reranking: the BERT encoder, its first ([CLS]) token, then one Dense → "logits" [batch, labels]. */
export function crossEncoder(options: Partial<CrossEncoderConfig> = {}): ZooModel<CrossEncoderConfig> {
  const config: CrossEncoderConfig = { ...resolveBert(options), labels: options.labels ?? 1 };
  positiveInt("crossEncoder", "labels", config.labels);
  const g = new GraphBuilder({ name: "cross_encoder", opset: config.opset });
  const w = new WeightMaker(g, config.seed);
  const outputs: ZooTensorSpec[] = [{ name: "logits", dtype: "float32", dims: ["batch", config.labels] }];
  declare(g, "input", BERT_INPUTS);
  const hidden = buildEncoder(g, w, config, "last_hidden_state");
  const cls = g.op("Gather", [hidden, g.constant(scalar(0n, "int64"), "const_cls_index")], { axis: 1 });
  const weight = w.normal("classifier.weight", [config.hidden, config.labels], config.initStd);
  const bias = w.normal("classifier.bias", [config.labels], config.initStd);
  g.node("Add", [g.op("MatMul", [cls, weight]), bias], ["logits"]);
  declare(g, "output", outputs);
  const name = "cross-encoder";
  const metadata = zooMetadata(
    g,
    name,
    `synthetic BERT cross-encoder (${config.layers} layers, hidden ${config.hidden}) → [CLS] → Dense(${config.labels})`,
    config,
  );
  return { name, bytes: g.toBytes(), config, weights: w.weights, inputs: BERT_INPUTS, outputs, metadata };
}
