/**
 * The demo repository `npm start` serves on a fresh clone: built deterministically from the onnx zoo
 * (seeded weights), so every clone gets byte-identical models. Both are SYNTHETIC: random weights,
 * not trained; their config.json and ONNX metadata say so.
 *
 *   demo-mlp/1/model.onnx      float32 input [batch,4] → logits, probabilities [batch,3]; labels in config.json
 *   demo-encoder/1/model.onnx  BERT-style encoder: input_ids, attention_mask, token_type_ids int64 [batch,seq]
 *                              → last_hidden_state float32 [batch,seq,32]
 */
import { existsSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { bertEncoder, mlpClassifier } from "../onnx/index.ts";

export const DEMO_MLP_LABELS = ["alpha", "beta", "gamma"] as const;

interface DemoModel {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly config: Record<string, unknown>;
}

/** The demo models (bytes and config.json), deterministic for a given Tessera version. */
export function demoModels(): DemoModel[] {
  const mlp = mlpClassifier({ inputDim: 4, hidden: [16], classes: 3, seed: 42 });
  const enc = bertEncoder({
    vocabSize: 1000,
    hidden: 32,
    layers: 2,
    heads: 2,
    intermediate: 64,
    maxPositions: 64,
    seed: 7,
  });
  return [
    {
      name: "demo-mlp",
      bytes: mlp.bytes,
      config: {
        description: "SYNTHETIC demo model: a seeded random ReLU MLP 4→16→3, not trained on anything",
        labels: [...DEMO_MLP_LABELS],
        batching: { maxBatchSize: 64, maxQueueDelayMs: 2, maxQueueSize: 1024 },
      },
    },
    {
      name: "demo-encoder",
      bytes: enc.bytes,
      config: {
        description:
          "SYNTHETIC demo model: a seeded random BERT-style encoder (2 layers, hidden 32), not trained",
        batching: { maxBatchSize: 32, maxQueueDelayMs: 2, maxQueueSize: 512 },
      },
    },
  ];
}

/**
 * Creates the demo repository at `dir` when `dir` does not exist (written to a sibling temp folder,
 * then renamed, so a crash never leaves half a repository). Returns true when it created it.
 */
export async function ensureDemoRepository(dir: string): Promise<boolean> {
  const root = resolve(dir);
  if (existsSync(root)) return false;
  const tmp = join(dirname(root), `.${root.split(/[\\/]/).at(-1)}.tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  for (const m of demoModels()) {
    await mkdir(join(tmp, m.name, "1"), { recursive: true });
    await writeFile(join(tmp, m.name, "1", "model.onnx"), m.bytes);
    await writeFile(join(tmp, m.name, "config.json"), `${JSON.stringify(m.config, null, 2)}\n`);
  }
  try {
    await rename(tmp, root);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    if (!existsSync(root)) throw err; // another process won the race: fine
    return false;
  }
  return true;
}
