/**
 * EncoderRunner: runs tokenized sequences through an encoder session in token-budget batches.
 *
 * Steps: items (ids + type ids) → DynamicBatcher (cost = tokens, batch cost = padded tokens
 * longest × count, sorted by length so neighbours in a batch have near-equal lengths) → pad →
 * session.run on a worker replica → per-row reduction (pooling or logits) on the main thread.
 * Concurrent callers share batches; while one batch runs on a worker, the main thread is free
 * to tokenize and queue the next ones.
 */
import { type Batched, type BatchStats, DynamicBatcher, type SubmitOptions } from "../batching/index.ts";
import type { InferenceSession, RunOptions } from "../runtime/index.ts";
import { cast, Tensor, TesseraError } from "../tensor/index.ts";
import type { HfFolder, Pooling } from "./hf-folder.ts";
import { poolRow } from "./pooling.ts";
import { type PaddedBatch, padEncodings, type TextEncoding } from "./tokenizer.ts";

/** Default token budget of one forward pass. */
export const DEFAULT_MAX_BATCH_TOKENS = 512;

export interface BatchingOptions {
  /** Padded tokens per forward pass (longest × count). Default 512 (small batches run best on CPU: 512 vs 1024 vs 2048 tokens gave 333 vs 316 vs 292 sentences/s on the MiniLM-shaped fixture here; see bench/RESULTS.md). */
  readonly maxBatchTokens?: number;
  /** Most sequences per forward pass. Default 64. */
  readonly maxBatchSize?: number;
  /** How long a partial batch waits for more work, ms. Default 2. */
  readonly maxQueueDelayMs?: number;
  /** Sequences allowed to wait; beyond it calls fail with QueueFullError (HTTP 429). Default 100000. */
  readonly maxQueueSize?: number;
  /** Batches in flight at once. Default: the session's replica count. */
  readonly concurrency?: number;
  /**
   * Most padding a batch may carry, as a share of its real tokens (plus one token per row).
   * Default 0.1: batches are (near) exact-length groups, so almost no compute goes to padding.
   * Set Infinity to batch by the token budget alone. Ignored for graphs without an
   * attention_mask input: those only ever get equal-length batches (no padding at all).
   */
  readonly maxPaddingRatio?: number;
  /** Called after each forward pass with its size (sequences), padded tokens and timings. */
  readonly onBatch?: (stats: BatchStats) => void;
}

/**
 * What to compute for one sequence: a pooled vector, the first logits row, or every real token's
 * vector (`[length × dim]`, row-major; needs a token-level output).
 */
export type Reduce =
  | {
      readonly kind: "pool";
      readonly pooling: Pooling;
      /**
       * Pooling over the attention mask (all but cls / last) leaves out this many leading real tokens (sentence-transformers'
       * `include_prompt: false`: the prompt's tokens, [CLS] included). Default 0.
       */
      readonly skip?: number;
    }
  | { readonly kind: "logits" }
  | { readonly kind: "tokens" };

interface Item {
  readonly enc: TextEncoding;
  readonly reduce: Reduce;
}

/** What one graph input carries. */
export type EncoderInputRole = "input_ids" | "attention_mask" | "token_type_ids" | "position_ids";

/** One graph input the runner fills, with the integer dtype the graph declares. */
export interface EncoderInput {
  readonly name: string;
  readonly role: EncoderInputRole;
  readonly dtype: "int64" | "int32";
}

/**
 * An input fed a fixed "nothing" value: an empty KV cache (`past_key_values.N.key|value`, shape
 * `[batch, heads, 0, headDim]`) of a decoder export, or `use_cache_branch = false` of an optimum
 * merged decoder. With an empty past the decoder computes plain hidden states for the sequence
 * (what transformers.js does for feature extraction with such exports).
 */
export interface EmptyInput {
  readonly name: string;
  readonly kind: "empty_past" | "false_flag";
  readonly dtype: "float32" | "float16" | "bool";
  /** For empty_past: [heads, headDim]. */
  readonly dims?: readonly [number, number];
}

/** Graph input/output names the runner feeds and reads. */
export interface EncoderIO {
  readonly inputIds: string;
  readonly attentionMask?: string;
  readonly tokenTypeIds?: string;
  /** Every input the graph declares, each filled exactly once (token_type_ids zeros or pair types). */
  readonly inputs: readonly EncoderInput[];
  /** Inputs fed an empty KV cache / a false flag (decoder exports with past key values). */
  readonly emptyInputs: readonly EmptyInput[];
  readonly output: string;
  /** Output rank 3 ([b, s, h], pooled here) or 2 ([b, h], already pooled / logits). */
  readonly outputRank: number;
  /** Output element type; float16 outputs are converted to float32 after the run. */
  readonly outputDtype: "float32" | "float16";
}

/** Options of `detectEncoderIO`. */
export interface DetectIOOptions {
  /**
   * For embeddings: take the graph's pooled output (`sentence_embedding`) even when a token-level
   * output exists, e.g. when the sentence-transformers pipeline has a Dense layer after pooling
   * that only the exported pooled output includes.
   */
  readonly preferPooled?: boolean;
}

const ROLE_NAMES: Readonly<Record<EncoderInputRole, readonly string[]>> = {
  input_ids: ["input_ids", "input_ids:0", "ids"],
  attention_mask: ["attention_mask", "attention_mask:0", "mask"],
  token_type_ids: ["token_type_ids", "token_type_ids:0", "segment_ids"],
  position_ids: ["position_ids", "position_ids:0"],
};
const TOKEN_OUTPUTS = ["last_hidden_state", "token_embeddings", "hidden_states"];
const POOLED_OUTPUTS = ["sentence_embedding", "sentence_embeddings", "embeddings"];
/** BERT's pooler (tanh(dense(CLS))): not what sentence-transformers returns; used only when nothing else exists. */
const LAST_RESORT_OUTPUTS = ["pooler_output"];

/**
 * Finds the graph's input and output names. Every declared input must be one Tessera can fill
 * (input_ids, attention_mask, token_type_ids, position_ids; int64 or int32; a decoder export's
 * `past_key_values.N.key|value` with fixed heads and head size get an empty cache, and
 * `use_cache_branch` false); any other throws `E_TEXT_MODEL` naming it. Outputs: for embeddings a
 * token-level output (last_hidden_state / token_embeddings, pooled here) is preferred, else a pooled
 * one (sentence_embedding; `preferPooled` reverses the order), and BERT's `pooler_output` only when
 * there is nothing else; for logits `logits` / `scores`. float32 or float16.
 */
export function detectEncoderIO(
  session: InferenceSession,
  kind: "embedding" | "logits",
  options: DetectIOOptions = {},
): EncoderIO {
  const specs = session.description.inputs;
  const ins = specs.map((i) => i.name);
  const outs = session.description.outputs;
  const inputs: EncoderInput[] = [];
  const emptyInputs: EmptyInput[] = [];
  const unknown: string[] = [];
  for (const spec of specs) {
    const role = (Object.keys(ROLE_NAMES) as EncoderInputRole[]).find((r) =>
      ROLE_NAMES[r].includes(spec.name),
    );
    if (!role) {
      const empty = emptyInputOf(spec);
      if (empty) emptyInputs.push(empty);
      else unknown.push(spec.name);
      continue;
    }
    if (spec.dtype !== "int64" && spec.dtype !== "int32") {
      throw new TesseraError(
        "E_TEXT_MODEL",
        `model input ${spec.name} is ${spec.dtype}; expected int64 or int32`,
        { input: spec.name, dtype: spec.dtype },
      );
    }
    if (inputs.some((i) => i.role === role)) unknown.push(spec.name);
    else inputs.push({ name: spec.name, role, dtype: spec.dtype });
  }
  if (unknown.length > 0) {
    const kv = unknown.some((n) => /past_key_values|present|cache/i.test(n));
    // (past_key_values with a symbolic head count or head size cannot be fed an empty cache)
    throw new TesseraError(
      "E_TEXT_MODEL",
      `model has inputs Tessera cannot fill: ${unknown.join(", ")} (inputs: ${ins.join(", ")})` +
        (kv
          ? "; this is a decoder export with a KV cache whose heads / head size are not fixed in the graph: export it without past key values (optimum: --task feature-extraction, no -with-past)"
          : ""),
      { inputs: ins, unknown },
    );
  }
  const byRole = (r: EncoderInputRole) => inputs.find((i) => i.role === r)?.name;
  const inputIds = byRole("input_ids");
  if (!inputIds)
    throw new TesseraError("E_TEXT_MODEL", `model has no input_ids input (inputs: ${ins.join(", ")})`, {
      inputs: ins,
    });
  const attentionMask = byRole("attention_mask");
  const tokenTypeIds = byRole("token_type_ids");
  const byName = (names: readonly string[]) =>
    names.map((p) => outs.find((o) => o.name === p)).find((o) => o !== undefined);
  let out: (typeof outs)[number] | undefined;
  if (kind === "logits") out = byName(["logits", "scores"]) ?? outs[0];
  else {
    const token = byName(TOKEN_OUTPUTS) ?? outs.find((o) => o.shape.length === 3 && !/logits/i.test(o.name));
    const pooled =
      byName(POOLED_OUTPUTS) ??
      outs.find(
        (o) => o.shape.length === 2 && !LAST_RESORT_OUTPUTS.includes(o.name) && !/logits/i.test(o.name),
      );
    out = options.preferPooled ? (pooled ?? token) : (token ?? pooled);
    out ??= byName(LAST_RESORT_OUTPUTS);
    if (!out) {
      throw new TesseraError(
        "E_TEXT_MODEL",
        `model has no hidden-state or embedding output (outputs: ${outs.map((o) => o.name).join(", ")}); a causal-LM export returns logits: export it for feature extraction (last_hidden_state)`,
        { outputs: outs.map((o) => o.name) },
      );
    }
  }
  if (!out) throw new TesseraError("E_TEXT_MODEL", "model has no outputs", {});
  if (out.dtype !== "float32" && out.dtype !== "float16") {
    throw new TesseraError(
      "E_TEXT_MODEL",
      `output ${out.name} is ${out.dtype}; expected float32 or float16`,
      {
        output: out.name,
        dtype: out.dtype,
      },
    );
  }
  return {
    inputIds,
    ...(attentionMask ? { attentionMask } : {}),
    ...(tokenTypeIds ? { tokenTypeIds } : {}),
    inputs,
    emptyInputs,
    output: out.name,
    outputRank: out.shape.length,
    outputDtype: out.dtype,
  };
}

export class EncoderRunner {
  readonly io: EncoderIO;
  readonly maxBatchTokens: number;
  readonly #session: InferenceSession;
  readonly #padId: number;
  readonly #padLeft: boolean;
  readonly #batcher: DynamicBatcher<Item, Float32Array>;

  /**
   * @param padId token id written into padded positions (masked out by attention_mask).
   * @param paddingSide "left" for decoder-style models whose tokenizer_config says so.
   */
  constructor(
    session: InferenceSession,
    io: EncoderIO,
    padId: number,
    options: BatchingOptions = {},
    paddingSide: "left" | "right" = "right",
  ) {
    this.#session = session;
    this.io = io;
    this.#padId = padId;
    this.#padLeft = paddingSide === "left";
    this.maxBatchTokens = options.maxBatchTokens ?? DEFAULT_MAX_BATCH_TOKENS;
    const maxBatchSize = options.maxBatchSize ?? 64;
    const maxPadding = options.maxPaddingRatio ?? 0.1;
    // Without an attention_mask input the graph would attend to padding: batch equal lengths only.
    const exactOnly = io.attentionMask === undefined;
    this.#batcher = new DynamicBatcher<Item, Float32Array>({
      run: (items) => this.#run(items),
      maxBatchSize,
      maxQueueDelayMs: options.maxQueueDelayMs ?? 2,
      eager: true, // an idle model starts at once; texts arriving meanwhile fill the next batch (TEI)
      maxQueueSize: options.maxQueueSize ?? 100_000,
      cost: (it) => it.enc.ids.length,
      // Padded tokens (longest × count); a batch that would waste more than maxPaddingRatio on
      // padding costs Infinity, so the length-sorted cut closes before mixing distant lengths.
      batchCost: (items) => {
        let m = 0;
        let sum = 0;
        for (const it of items) {
          m = Math.max(m, it.enc.ids.length);
          sum += it.enc.ids.length;
        }
        const padded = m * items.length;
        // A sequence longer than the budget (long-context models) still runs: alone, in its own batch.
        if (items.length === 1) return Math.min(padded, this.maxBatchTokens);
        if (exactOnly) return padded === sum ? padded : Number.POSITIVE_INFINITY;
        return padded - sum > maxPadding * sum + items.length ? Number.POSITIVE_INFINITY : padded;
      },
      maxBatchCost: this.maxBatchTokens,
      sortKey: (it) => it.enc.ids.length,
      sortWindow: Math.max(4 * maxBatchSize, 1024),
      concurrency: options.concurrency ?? Math.max(1, session.replicas),
      ...(options.onBatch ? { onBatch: options.onBatch } : {}),
    });
  }

  /**
   * The runner of a model folder (TextEmbedder, Reranker): pads with its tokenizer's pad id on its
   * padding side; the token budget (default DEFAULT_MAX_BATCH_TOKENS) is raised to the folder's
   * max length.
   */
  static forFolder(
    session: InferenceSession,
    io: EncoderIO,
    folder: Pick<HfFolder, "tokenizer" | "maxLength">,
    options: BatchingOptions = {},
  ): EncoderRunner {
    return new EncoderRunner(
      session,
      io,
      folder.tokenizer.padId,
      {
        ...options,
        maxBatchTokens: Math.max(options.maxBatchTokens ?? DEFAULT_MAX_BATCH_TOKENS, folder.maxLength),
      },
      folder.tokenizer.paddingSide,
    );
  }

  /** Queues one sequence; resolves to its pooled vector, logits row or token vectors (a fresh Float32Array). */
  submit(enc: TextEncoding, reduce: Reduce, options: SubmitOptions = {}): Promise<Batched<Float32Array>> {
    return this.#batcher.submit({ enc, reduce }, options);
  }

  get queueDepth(): number {
    return this.#batcher.queueDepth;
  }

  /**
   * Stops the batcher. By default queued work finishes; with `{ drain: false }` (also during an earlier drain)
   * queued sequences reject with E_BATCHER_CLOSED and only running batches finish. Does not close the session.
   */
  close(options: { drain?: boolean } = {}): Promise<void> {
    return this.#batcher.close({ drain: options.drain ?? true });
  }

  async #run(items: Item[]): Promise<Float32Array[]> {
    const b = padEncodings(
      items.map((i) => i.enc),
      this.#padId,
      undefined,
      this.#padLeft ? "left" : "right",
    );
    const shape = [b.n, b.seqLen];
    const inputs: Record<string, Tensor> = {};
    for (const spec of this.io.inputs) {
      const data =
        spec.role === "input_ids"
          ? b.inputIds
          : spec.role === "attention_mask"
            ? b.attentionMask
            : spec.role === "token_type_ids"
              ? b.tokenTypeIds
              : positionIdsOf(b);
      inputs[spec.name] = Tensor.wrap(spec.dtype === "int32" ? toInt32(data) : data, shape);
    }
    for (const e of this.io.emptyInputs) {
      if (e.kind === "false_flag") inputs[e.name] = Tensor.wrap(new Uint8Array(1), [1], "bool");
      else {
        const [heads, headDim] = e.dims as readonly [number, number];
        const arr = e.dtype === "float16" ? new Uint16Array(0) : new Float32Array(0);
        inputs[e.name] = Tensor.wrap(arr, [b.n, heads, 0, headDim], e.dtype);
      }
    }
    const runOptions: RunOptions & { transferInputs: boolean } = {
      outputs: [this.io.output],
      transferInputs: true,
    };
    const res = await this.#session.run(inputs, runOptions);
    const raw = res.outputs[this.io.output];
    if (!raw)
      throw new TesseraError("E_TEXT_MODEL", `model did not return ${this.io.output}`, {
        output: this.io.output,
      });
    const out = raw.dtype === "float16" ? cast(raw, "float32") : raw;
    if (out.dtype !== "float32")
      throw new TesseraError("E_TEXT_MODEL", `output ${this.io.output} is ${out.dtype}; expected float32`, {
        output: this.io.output,
      });
    const data = out.contiguous().data as Float32Array;
    const dims = out.shape;
    const results: Float32Array[] = [];
    if (dims.length === 3) {
      const seqLen = dims[1] as number;
      const dim = dims[2] as number;
      for (let r = 0; r < items.length; r++) {
        const it = items[r] as Item;
        const length = b.lengths[r] as number;
        const start = this.#padLeft ? seqLen - length : 0;
        if (it.reduce.kind === "logits" || it.reduce.kind === "tokens") {
          const at = (r * seqLen + start) * dim;
          results.push(data.slice(at, at + (it.reduce.kind === "tokens" ? length : 1) * dim));
          continue;
        }
        const v = new Float32Array(dim);
        const pooling = it.reduce.pooling;
        // Prompt tokens left out (include_prompt false) are masked, as sentence-transformers masks them: every
        // mode over the mask skips them; cls takes token 0 and last the last token either way.
        const skip = pooling === "cls" || pooling === "last" ? 0 : Math.min(it.reduce.skip ?? 0, length);
        poolRow(data, seqLen, dim, r, length - skip, pooling, v, 0, start + skip, skip + 1);
        results.push(v);
      }
    } else if (dims.length === 2) {
      if (items.some((it) => it.reduce.kind === "tokens"))
        throw new TesseraError(
          "E_TEXT_MODEL",
          `output ${this.io.output} is pooled ([batch, dim]); per-token vectors need a token-level output`,
          { output: this.io.output },
        );
      const dim = dims[1] as number;
      for (let r = 0; r < items.length; r++) results.push(data.slice(r * dim, (r + 1) * dim));
    } else {
      throw new TesseraError(
        "E_TEXT_MODEL",
        `output ${this.io.output} has rank ${dims.length}; expected 2 or 3`,
        { shape: dims },
      );
    }
    return results;
  }
}

/** The fixed "nothing" value of an input the runner has no role for, or undefined when there is none. */
function emptyInputOf(spec: {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly (number | string | null)[];
}): EmptyInput | undefined {
  if (/^use_cache_branch$/.test(spec.name) && spec.dtype === "bool")
    return { name: spec.name, kind: "false_flag", dtype: "bool" };
  if (!/^past_key_values\.\d+\.(key|value)$/.test(spec.name)) return undefined;
  if (spec.dtype !== "float32" && spec.dtype !== "float16") return undefined;
  const [, heads, , headDim] = spec.shape;
  if (spec.shape.length !== 4 || typeof heads !== "number" || typeof headDim !== "number") return undefined;
  return { name: spec.name, kind: "empty_past", dtype: spec.dtype, dims: [heads, headDim] };
}

/**
 * position_ids for a padded batch: 0..len-1 over each row's real tokens wherever they sit (left or
 * right padding), 1 on padding (what transformers computes as cumsum(mask) - 1, masked fill 1).
 */
export function positionIdsOf(b: PaddedBatch): BigInt64Array {
  const out = new BigInt64Array(b.n * b.seqLen);
  for (let r = 0; r < b.n; r++) {
    let p = 0n;
    for (let i = 0; i < b.seqLen; i++) {
      const k = r * b.seqLen + i;
      if (b.attentionMask[k] === 1n) out[k] = p++;
      else out[k] = 1n;
    }
  }
  return out;
}

function toInt32(a: BigInt64Array): Int32Array {
  const out = new Int32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = Number(a[i]);
  return out;
}
