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
import { Tensor, TesseraError } from "../tensor/index.ts";
import type { Pooling } from "./hf-folder.ts";
import { poolRow } from "./pooling.ts";
import { padEncodings, type TextEncoding } from "./tokenizer.ts";

/** Default token budget of one forward pass. */
export const DEFAULT_MAX_BATCH_TOKENS = 1024;

export interface BatchingOptions {
  /** Padded tokens per forward pass (longest × count). Default 1024 (small batches run best on CPU here; see bench/RESULTS.md). */
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
   * Set Infinity to batch by the token budget alone.
   */
  readonly maxPaddingRatio?: number;
  /** Called after each forward pass with its size (sequences), padded tokens and timings. */
  readonly onBatch?: (stats: BatchStats) => void;
}

/** What to compute for one sequence. */
export type Reduce = { readonly kind: "pool"; readonly pooling: Pooling } | { readonly kind: "logits" };

interface Item {
  readonly enc: TextEncoding;
  readonly reduce: Reduce;
}

/** Graph input/output names the runner feeds and reads. */
export interface EncoderIO {
  readonly inputIds: string;
  readonly attentionMask?: string;
  readonly tokenTypeIds?: string;
  readonly output: string;
  /** Output rank 3 ([b, s, h], pooled here) or 2 ([b, h], already pooled / logits). */
  readonly outputRank: number;
}

/** Finds the graph's input and output names; throws `E_TEXT_MODEL` when they do not fit an encoder. */
export function detectEncoderIO(session: InferenceSession, kind: "embedding" | "logits"): EncoderIO {
  const ins = session.description.inputs.map((i) => i.name);
  const outs = session.description.outputs;
  const find = (...names: string[]): string | undefined => names.find((n) => ins.includes(n));
  const inputIds = find("input_ids");
  if (!inputIds)
    throw new TesseraError("E_TEXT_MODEL", `model has no input_ids input (inputs: ${ins.join(", ")})`, {
      inputs: ins,
    });
  const attentionMask = find("attention_mask");
  const tokenTypeIds = find("token_type_ids");
  const known = new Set([inputIds, attentionMask, tokenTypeIds]);
  const extra = ins.filter((n) => !known.has(n));
  if (extra.length > 0) {
    throw new TesseraError("E_TEXT_MODEL", `model has inputs Tessera cannot fill: ${extra.join(", ")}`, {
      inputs: ins,
    });
  }
  const pref =
    kind === "logits"
      ? ["logits", "scores"]
      : ["last_hidden_state", "token_embeddings", "sentence_embedding"];
  const out = pref.map((p) => outs.find((o) => o.name === p)).find((o) => o !== undefined) ?? outs[0];
  if (!out) throw new TesseraError("E_TEXT_MODEL", "model has no outputs", {});
  if (out.dtype !== "float32") {
    throw new TesseraError("E_TEXT_MODEL", `output ${out.name} is ${out.dtype}; expected float32`, {
      output: out.name,
      dtype: out.dtype,
    });
  }
  return {
    inputIds,
    ...(attentionMask ? { attentionMask } : {}),
    ...(tokenTypeIds ? { tokenTypeIds } : {}),
    output: out.name,
    outputRank: out.shape.length,
  };
}

export class EncoderRunner {
  readonly io: EncoderIO;
  readonly maxBatchTokens: number;
  readonly #session: InferenceSession;
  readonly #padId: number;
  readonly #batcher: DynamicBatcher<Item, Float32Array>;

  constructor(session: InferenceSession, io: EncoderIO, padId: number, options: BatchingOptions = {}) {
    this.#session = session;
    this.io = io;
    this.#padId = padId;
    this.maxBatchTokens = options.maxBatchTokens ?? DEFAULT_MAX_BATCH_TOKENS;
    const maxBatchSize = options.maxBatchSize ?? 64;
    const maxPadding = options.maxPaddingRatio ?? 0.1;
    this.#batcher = new DynamicBatcher<Item, Float32Array>({
      run: (items) => this.#run(items),
      maxBatchSize,
      maxQueueDelayMs: options.maxQueueDelayMs ?? 2,
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
        return padded - sum > maxPadding * sum + items.length ? Number.POSITIVE_INFINITY : padded;
      },
      maxBatchCost: this.maxBatchTokens,
      sortKey: (it) => it.enc.ids.length,
      sortWindow: Math.max(4 * maxBatchSize, 1024),
      concurrency: options.concurrency ?? Math.max(1, session.replicas),
      ...(options.onBatch ? { onBatch: options.onBatch } : {}),
    });
  }

  /** Queues one sequence; resolves to its pooled vector or logits row (a fresh Float32Array). */
  submit(enc: TextEncoding, reduce: Reduce, options: SubmitOptions = {}): Promise<Batched<Float32Array>> {
    if (enc.ids.length > this.maxBatchTokens) {
      throw new TesseraError(
        "E_TEXT_TOO_LONG",
        `input has ${enc.ids.length} tokens; the batch token budget is ${this.maxBatchTokens}`,
        {
          tokens: enc.ids.length,
          maxTokens: this.maxBatchTokens,
        },
      );
    }
    return this.#batcher.submit({ enc, reduce }, options);
  }

  get queueDepth(): number {
    return this.#batcher.queueDepth;
  }

  /** Stops the batcher (queued work finishes). Does not close the session. */
  close(): Promise<void> {
    return this.#batcher.close({ drain: true });
  }

  async #run(items: Item[]): Promise<Float32Array[]> {
    const b = padEncodings(
      items.map((i) => i.enc),
      this.#padId,
    );
    const shape = [b.n, b.seqLen];
    const inputs: Record<string, Tensor> = { [this.io.inputIds]: Tensor.wrap(b.inputIds, shape) };
    if (this.io.attentionMask) inputs[this.io.attentionMask] = Tensor.wrap(b.attentionMask, shape);
    if (this.io.tokenTypeIds) inputs[this.io.tokenTypeIds] = Tensor.wrap(b.tokenTypeIds, shape);
    const runOptions: RunOptions & { transferInputs: boolean } = {
      outputs: [this.io.output],
      transferInputs: true,
    };
    const res = await this.#session.run(inputs, runOptions);
    const out = res.outputs[this.io.output];
    if (!out)
      throw new TesseraError("E_TEXT_MODEL", `model did not return ${this.io.output}`, {
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
        if (it.reduce.kind === "logits") {
          results.push(data.slice(r * seqLen * dim, (r * seqLen + 1) * dim));
          continue;
        }
        const v = new Float32Array(dim);
        poolRow(data, seqLen, dim, r, b.lengths[r] as number, it.reduce.pooling, v);
        results.push(v);
      }
    } else if (dims.length === 2) {
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
