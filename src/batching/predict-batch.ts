/**
 * predictBatch: run many single examples through a session in batches, in one call.
 */
import {
  type InferenceSession,
  type RunOptions,
  type RunResult,
  type TensorMap,
  validateInputs,
} from "../runtime/index.ts";
import { type Tensor, TesseraError } from "../tensor/index.ts";
import { allocate, shapeKey, writeInto } from "./stacking.ts";

export interface PredictBatchOptions {
  /** Examples per session.run (≥ 1). */
  readonly batchSize: number;
  /** Output names to compute; default all. */
  readonly outputs?: readonly string[];
  /** Aborts chunks not yet started (rejects with E_ABORTED). */
  readonly signal?: AbortSignal;
  /** Chunks run at once (default `session.replicas`, so every replica is busy). */
  readonly concurrency?: number;
}

/**
 * Runs `items` (each one example WITHOUT a batch dim, e.g. `{ x: float32[256] }` for a model input
 * `float32[batch,256]`) through `session` in chunks of `batchSize`.
 *
 * Inputs are stacked along a new axis 0 into ONE preallocated buffer per input (one `TypedArray.set` per
 * item and input); each chunk is a view of it. Returns one TensorMap per item whose tensors are VIEWS
 * (`select(0, i)`) of the chunk's output tensors: no per-item copies. Every item must have the same input
 * names, dtypes and shapes (pad variable-length sequences first, e.g. with `padSequences`). Bad items are
 * reported all at once with `E_INPUT_INVALID` before anything runs.
 */
export async function predictBatch(
  session: InferenceSession,
  items: readonly TensorMap[],
  options: PredictBatchOptions,
): Promise<TensorMap[]> {
  const { batchSize } = options;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new TesseraError(
      "E_BATCHER_CONFIG",
      `predictBatch: batchSize must be an integer ≥ 1, got ${batchSize}`,
      {
        field: "batchSize",
        got: batchSize,
      },
    );
  }
  if (items.length === 0) return [];
  checkStackable(session, items);
  const first = items[0]!;
  const names = Object.keys(first);
  const n = items.length;

  // One buffer per input holding all n rows.
  const stacked: TensorMap = {};
  for (const name of names) {
    const t0 = first[name]!;
    const buf = allocate(t0.dtype, [n, ...t0.shape]);
    const rowSize = t0.size;
    for (let i = 0; i < n; i++) writeInto(buf.storage, i * rowSize, items[i]![name]!);
    stacked[name] = buf;
  }

  const chunks: { start: number; rows: number }[] = [];
  for (let s = 0; s < n; s += batchSize) chunks.push({ start: s, rows: Math.min(batchSize, n - s) });
  const results: TensorMap[] = new Array<TensorMap>(n);
  const runOpts: RunOptions = {
    ...(options.outputs ? { outputs: options.outputs } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  let next = 0;
  let failed = false; // the first failure stops every lane: the call has already rejected
  const worker = async (): Promise<void> => {
    while (next < chunks.length && !failed) {
      const { start, rows } = chunks[next++]!;
      const inputs: TensorMap = {};
      for (const name of names) inputs[name] = stacked[name]!.narrow(0, start, rows);
      let r: RunResult;
      try {
        r = await session.run(inputs, runOpts);
        for (const [name, out] of Object.entries(r.outputs)) checkBatchMajor(name, out, rows);
      } catch (err) {
        failed = true;
        throw err;
      }
      for (let i = 0; i < rows; i++) {
        const item: TensorMap = {};
        for (const [name, out] of Object.entries(r.outputs)) item[name] = out.select(0, i);
        results[start + i] = item;
      }
    }
  };
  const lanes = Math.max(1, Math.min(options.concurrency ?? session.replicas, chunks.length));
  await Promise.all(Array.from({ length: lanes }, worker));
  return results;
}

/** Every item: same names/dtypes/shapes as item 0, and item 0 (with a batch dim of 1) valid for the model. */
function checkStackable(session: InferenceSession, items: readonly TensorMap[]): void {
  const issues: { path: string; message: string }[] = [];
  const first = items[0]!;
  const withBatch: TensorMap = {};
  for (const [name, t] of Object.entries(first)) withBatch[name] = t.unsqueeze(0);
  const check = validateInputs(session.description, withBatch);
  if (!check.ok) {
    for (const i of check.issues)
      issues.push({ path: `items[0].${i.path}`, message: `${i.message} (after adding the batch dim)` });
  }
  const key0 = shapeKey(first, false);
  for (let i = 1; i < items.length; i++) {
    const key = shapeKey(items[i]!, false);
    if (key !== key0) {
      issues.push({
        path: `items[${i}]`,
        message: `expected the same inputs as items[0] (${key0}), got ${key}; pad sequences first`,
      });
    }
  }
  if (issues.length > 0) {
    throw new TesseraError(
      "E_INPUT_INVALID",
      `predictBatch: invalid items: ${issues
        .slice(0, 5)
        .map((i) => `${i.path}: ${i.message}`)
        .join("; ")}${issues.length > 5 ? `; … ${issues.length - 5} more` : ""}`,
      { issues },
    );
  }
}

/** Throws E_BATCH_OUTPUT_SHAPE when an output's axis 0 is not the batch (it cannot be split per item). */
export function checkBatchMajor(name: string, out: Tensor, rows: number): void {
  if (out.ndim === 0 || out.shape[0] !== rows) {
    throw new TesseraError(
      "E_BATCH_OUTPUT_SHAPE",
      `batching: output ${JSON.stringify(name)} has shape [${out.shape.join(",")}], expected axis 0 to be the batch of ${rows} rows`,
      { output: name, shape: [...out.shape], rows },
    );
  }
}
