/**
 * Small ONNX graphs with the input/output signatures of real Hugging Face exports, for the
 * text tests (built with src/onnx GraphBuilder, no attention: each token's vector depends only on
 * its id, its position and its type, so references are one line of JS):
 *
 *   h[b, s] = E[input_ids[b, s]] + P[pos[b, s]] + T[token_type_ids[b, s]]
 *     pos = position_ids when the graph declares it, else 0..S-1 computed inside (as BERT does)
 *     T term only when token_type_ids is declared
 *   last_hidden_state / token_embeddings = h                                  [b, s, H]
 *   sentence_embedding = Σ_s h·mask / Σ_s mask  (masked mean)                 [b, H]
 *   pooler_output = h[:, 0]                                                   [b, H]
 *   logits = sentence_embedding @ W                                          [b, labels]
 *
 * Signatures covered: BERT (ids, mask, types), RoBERTa / XLM-R / nomic (no token_type_ids),
 * decoder embedders (ids, mask, position_ids), int32 inputs, float16 outputs (Cast at the end,
 * as in model_fp16.onnx), extra inputs like past_key_values.0.key.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after } from "node:test";
import { encodeModel, GraphBuilder } from "../../src/onnx/index.ts";
import { rng, scalar, type Tensor, tensor } from "../../src/tensor/index.ts";

export type ToyOutput =
  | "last_hidden_state"
  | "token_embeddings"
  | "sentence_embedding"
  | "pooler_output"
  | "logits";

export interface ToyEncoderOptions {
  readonly vocabSize: number;
  readonly hidden?: number;
  readonly maxPositions?: number;
  readonly idsDtype?: "int64" | "int32";
  readonly tokenTypeIds?: boolean;
  readonly positionIds?: boolean;
  readonly attentionMask?: boolean;
  /**
   * Extra declared inputs: a name gets float32 [batch, "heads", "past", hidden] (symbolic, cannot
   * be fed); an object gives the dims. 4-D float inputs are summed into h (so they must be empty
   * or zero for the plain result); a bool input is ignored.
   */
  readonly extraInputs?: readonly (
    | string
    | {
        readonly name: string;
        readonly dtype: "float32" | "float16" | "bool";
        readonly dims: readonly (string | number)[];
      }
  )[];
  readonly outputs?: readonly ToyOutput[];
  /** Width of the `logits` output (default 1: a cross-encoder's one score; more for a classifier). */
  readonly labels?: number;
  readonly outputDtype?: "float32" | "float16";
  readonly seed?: number;
  /**
   * Store the initializers in a side file named this (as large exports do: model.onnx_data);
   * its bytes are returned as `externalBytes`.
   */
  readonly externalData?: string;
}

export interface ToyEncoder {
  readonly bytes: Uint8Array;
  /** The side file's bytes when `externalData` was set. */
  readonly externalBytes?: Uint8Array;
  readonly hidden: number;
  /** Embedding row of a token id / position / type (plain arrays for references). */
  readonly word: (id: number) => Float32Array;
  readonly position: (p: number) => Float32Array;
  readonly type: (t: number) => Float32Array;
  /** logits = pooled @ W for a pooled vector (length hidden), one value per label. */
  readonly logits: (pooled: Float32Array) => Float32Array;
}

export function toyEncoder(o: ToyEncoderOptions): ToyEncoder {
  const H = o.hidden ?? 8;
  const maxPos = o.maxPositions ?? 600;
  const idsDtype = o.idsDtype ?? "int64";
  const outDtype = o.outputDtype ?? "float32";
  const outputs = o.outputs ?? ["last_hidden_state"];
  const gen = rng(o.seed ?? 3);
  const E = gen.normal([o.vocabSize, H], { std: 1, dtype: "float32" }) as Tensor<"float32">;
  const P = gen.normal([maxPos, H], { std: 1, dtype: "float32" }) as Tensor<"float32">;
  const T = gen.normal([2, H], { std: 1, dtype: "float32" }) as Tensor<"float32">;
  const L = o.labels ?? 1;
  const W = gen.normal([H, L], { std: 1, dtype: "float32" }) as Tensor<"float32">;
  const g = new GraphBuilder({ name: "toy_encoder", opset: 17 });
  g.input("input_ids", idsDtype, ["batch", "sequence"]);
  if (o.attentionMask !== false) g.input("attention_mask", idsDtype, ["batch", "sequence"]);
  if (o.tokenTypeIds) g.input("token_type_ids", idsDtype, ["batch", "sequence"]);
  if (o.positionIds) g.input("position_ids", idsDtype, ["batch", "sequence"]);
  const pastSums: string[] = [];
  for (const x of o.extraInputs ?? []) {
    const spec =
      typeof x === "string" ? { name: x, dtype: "float32" as const, dims: ["batch", "heads", "past", H] } : x;
    g.input(spec.name, spec.dtype, spec.dims);
    if (spec.dtype !== "bool" && spec.dims.length === 4) {
      const f = spec.dtype === "float16" ? g.op("Cast", [spec.name], { to: 1 }) : spec.name;
      // [b, heads, past, d] → Σ → [b, 1, 1] (0 for an empty cache)
      const r = g.op("ReduceSum", [f, g.constant(tensor([1n, 2n, 3n], "int64"), g.uniqueName("c_axes123"))], {
        keepdims: 1,
      });
      pastSums.push(g.op("Squeeze", [r, g.constant(tensor([3n], "int64"), g.uniqueName("c_axis3"))]));
    }
  }
  const e = g.initializer("word", E);
  const p = g.initializer("pos", P);
  let pos: string;
  if (o.positionIds) pos = "position_ids";
  else {
    const seqLen = g.op(
      "Gather",
      [g.op("Shape", ["input_ids"]), g.constant(scalar(1n, "int64"), "c_axis1")],
      {
        axis: 0,
      },
    );
    pos = g.op("Range", [
      g.constant(scalar(0n, "int64"), "c0"),
      seqLen,
      g.constant(scalar(1n, "int64"), "c1"),
    ]);
  }
  let h = g.op("Add", [g.op("Gather", [e, "input_ids"], { axis: 0 }), g.op("Gather", [p, pos], { axis: 0 })]);
  if (o.tokenTypeIds)
    h = g.op("Add", [h, g.op("Gather", [g.initializer("type", T), "token_type_ids"], { axis: 0 })]);
  for (const p of pastSums) h = g.op("Add", [h, p]);
  const axes1 = g.constant(tensor([1n], "int64"), "c_axes1");
  let maskF: string;
  if (o.attentionMask !== false) {
    maskF = g.op("Unsqueeze", [
      g.op("Cast", ["attention_mask"], { to: 1 }),
      g.constant(tensor([2n], "int64"), "c_axes2"),
    ]);
  } else
    maskF = g.op("Add", [
      g.op("Mul", [h, g.constant(scalar(0, "float32"), "cz")]),
      g.constant(scalar(1, "float32"), "c1f"),
    ]);
  const sum = g.op("ReduceSum", [g.op("Mul", [h, maskF]), axes1], { keepdims: 0 });
  const cnt = g.op("ReduceSum", [maskF, axes1], { keepdims: 0 });
  const pooled = g.op("Div", [sum, cnt]);
  const emit = (name: ToyOutput, value: string, dims: (string | number)[]) => {
    if (outDtype === "float16") g.node("Cast", [value], [name], { to: 10 });
    else g.node("Identity", [value], [name]);
    g.output(name, outDtype, dims);
  };
  for (const out of outputs) {
    if (out === "last_hidden_state" || out === "token_embeddings") emit(out, h, ["batch", "sequence", H]);
    else if (out === "sentence_embedding") emit(out, pooled, ["batch", H]);
    else if (out === "pooler_output")
      emit(out, g.op("Gather", [h, g.constant(scalar(0n, "int64"), "c_first")], { axis: 1 }), ["batch", H]);
    else emit(out, g.op("MatMul", [pooled, g.initializer("classifier", W)]), ["batch", L]);
  }
  const row = (t: Tensor<"float32">, i: number) => (t.data as Float32Array).slice(i * H, (i + 1) * H);
  let bytes = g.toBytes();
  let externalBytes: Uint8Array | undefined;
  if (o.externalData) {
    const model = g.toModel();
    const chunks: Uint8Array[] = [];
    let offset = 0;
    for (const init of model.graph?.initializer ?? []) {
      const raw = init.raw_data;
      if (!raw || raw.length === 0) continue;
      chunks.push(raw);
      init.external_data = [
        { key: "location", value: o.externalData },
        { key: "offset", value: String(offset) },
        { key: "length", value: String(raw.length) },
      ];
      init.data_location = 1;
      init.raw_data = new Uint8Array(0);
      offset += raw.length;
    }
    externalBytes = new Uint8Array(offset);
    let at = 0;
    for (const c of chunks) {
      externalBytes.set(c, at);
      at += c.length;
    }
    bytes = encodeModel(model);
  }
  return {
    bytes,
    ...(externalBytes ? { externalBytes } : {}),
    hidden: H,
    word: (id) => row(E, id),
    position: (i) => row(P, i),
    type: (t) => row(T, t),
    logits: (pooled) => {
      const w = W.data as Float32Array;
      const out = new Float32Array(L);
      for (let l = 0; l < L; l++) {
        let s = 0;
        for (let h = 0; h < H; h++) s += (pooled[h] as number) * (w[h * L + l] as number);
        out[l] = s;
      }
      return out;
    },
  };
}

export const TEXT_FIXTURES = join(import.meta.dirname, "..", "fixtures", "text");

/** Parsed tokenizer.json of a committed fixture (wordpiece, bpe, unigram, precompiled). */
export function fixtureTokenizer(kind: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(TEXT_FIXTURES, kind, "tokenizer.json"), "utf8")) as Record<
    string,
    unknown
  >;
}

export function vocabSizeOf(tj: Record<string, unknown>): number {
  const v = (tj.model as { vocab: unknown }).vocab;
  return Array.isArray(v) ? v.length : Object.keys(v as object).length;
}

/** Writes a model folder: JSON files (objects are stringified) and binary files, by relative path. */
export function writeFolder(files: Record<string, unknown>): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), "tessera-hf-"));
  for (const [rel, content] of Object.entries(files)) {
    const p = join(dir, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content instanceof Uint8Array ? content : JSON.stringify(content));
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A writeFolder that removes its folders after the calling test file (registers node:test `after`;
 * call it at the top level of the file).
 */
export function folderWriter(): (files: Record<string, unknown>) => string {
  const cleanups: (() => void)[] = [];
  after(() => {
    for (const c of cleanups) c();
  });
  return (files) => {
    const f = writeFolder(files);
    cleanups.push(f.cleanup);
    return f.dir;
  };
}

/** sentence-transformers modules.json + 1_Pooling/config.json for a pooling mode. */
export function stModules(
  pooling: "mean" | "cls" | "lasttoken",
  hidden: number,
  extra: readonly string[] = ["sentence_transformers.models.Normalize"],
): Record<string, unknown> {
  return {
    "modules.json": [
      { idx: 0, name: "0", path: "", type: "sentence_transformers.models.Transformer" },
      { idx: 1, name: "1", path: "1_Pooling", type: "sentence_transformers.models.Pooling" },
      ...extra.map((type, i) => ({ idx: 2 + i, name: String(2 + i), path: `${2 + i}_X`, type })),
    ],
    "1_Pooling/config.json": {
      word_embedding_dimension: hidden,
      pooling_mode_cls_token: pooling === "cls",
      pooling_mode_mean_tokens: pooling === "mean",
      pooling_mode_max_tokens: false,
      pooling_mode_mean_sqrt_len_tokens: false,
      pooling_mode_lasttoken: pooling === "lasttoken",
    },
  };
}

export interface ClassifierFolderOptions {
  /** Width of the logits output (1 for a cross-encoder). */
  readonly labels?: number;
  readonly seed?: number;
  /** Merged into the BERT sequence-classification config.json (id2label, problem_type, ...). */
  readonly config?: Record<string, unknown>;
  /** tokenizer.json (default: the wordpiece fixture). */
  readonly tokenizer?: Record<string, unknown>;
  /** The graph to write (default: classifierEncoder of these options). */
  readonly enc?: ToyEncoder;
}

/** The toy classifier graph classifierFolder writes: token_type_ids in, `logits` out. */
export function classifierEncoder(o: ClassifierFolderOptions = {}): ToyEncoder {
  return toyEncoder({
    vocabSize: vocabSizeOf(o.tokenizer ?? fixtureTokenizer("wordpiece")),
    tokenTypeIds: true,
    outputs: ["logits"],
    labels: o.labels ?? 1,
    ...(o.seed === undefined ? {} : { seed: o.seed }),
  });
}

/**
 * A BERT sequence-classifier / cross-encoder folder (tokenizer.json, tokenizer_config.json,
 * config.json with BertForSequenceClassification, onnx/model.onnx) over a toy graph with
 * token_type_ids and a `logits` output, and that graph for references.
 */
export function classifierFolder(o: ClassifierFolderOptions = {}): {
  dir: string;
  cleanup(): void;
  enc: ToyEncoder;
} {
  const tj = o.tokenizer ?? fixtureTokenizer("wordpiece");
  const enc = o.enc ?? classifierEncoder({ ...o, tokenizer: tj });
  const f = writeFolder({
    "tokenizer.json": tj,
    "tokenizer_config.json": { model_max_length: 512 },
    "config.json": {
      model_type: "bert",
      architectures: ["BertForSequenceClassification"],
      max_position_embeddings: 512,
      ...o.config,
    },
    "onnx/model.onnx": enc.bytes,
  });
  return { ...f, enc };
}

/**
 * The toy graph's logits for one encoding: masked mean of E[id] + P[pos] + T[type], @ W. The sum
 * is kept in float64 with `float64`, else in float32.
 */
export function toyLogits(
  enc: ToyEncoder,
  ids: readonly number[],
  types: readonly number[],
  float64 = false,
): Float32Array {
  const pooled = float64 ? new Float64Array(enc.hidden) : new Float32Array(enc.hidden);
  ids.forEach((id, p) => {
    const w = enc.word(id);
    const q = enc.position(p);
    const t = enc.type(types[p] as number);
    for (let d = 0; d < enc.hidden; d++)
      pooled[d] = (pooled[d] as number) + (w[d] as number) + (q[d] as number) + (t[d] as number);
  });
  return enc.logits(Float32Array.from(pooled, (x) => x / ids.length));
}
