/**
 * BERT-style encoder throughput on the webgpu execution provider vs the cpu provider, same process, same
 * inputs, raw onnxruntime-node sessions (the provider is what is measured; Tessera's workers add ~0.1 ms).
 *
 *   node --import tsx bench/gpu/webgpu.ts [--model model.onnx] [--shape minilm|small] [--batch 8] [--seq 128]
 *        [--seconds 6] [--providers cpu,webgpu] [--dump-dir DIR] [--json]
 *
 * Without --model it builds the zoo bertEncoder at the MiniLM-L6 shape (vocab 30522, hidden 384, 6 layers,
 * 12 heads, FFN 1536; random weights), or a small one with --shape small. With --model, any encoder with
 * inputs input_ids/attention_mask/token_type_ids (int64 [batch, seq]) and output last_hidden_state, e.g. the
 * minilm-shape fixture (../shared/fixtures/make_fixture.py).
 *
 * Rows: per provider, session create, first run and steady state (runs/s, padded tokens/s, p50) apart, then
 * the same with a preallocated output tensor (ORT writes into it; no allocation per run); max |webgpu − cpu|; and a two-model chain (encoder → mean-pool model) with the encoder's output either
 * downloaded to the CPU and uploaded again, or kept on the device (preferredOutputLocation "gpu-buffer").
 * Inputs are a fixed formula (bench/gpu/torch_bench.py builds the same ones for PyTorch).
 */
import { writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    shape: { type: "string", default: "minilm" },
    batch: { type: "string", default: "8" },
    seq: { type: "string", default: "128" },
    seconds: { type: "string", default: "6" },
    providers: { type: "string", default: "cpu,webgpu" },
    "dump-dir": { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const BATCH = Number(values.batch);
const SEQ = Number(values.seq);
const SECONDS = Number(values.seconds);
const PROVIDERS = (values.providers ?? "cpu,webgpu").split(",").map((s) => s.trim());
const CORES = availableParallelism();

/** Deterministic inputs (same formula in torch_bench.py): row b has `len_b` real tokens, then padding. */
export function benchInputs(
  batch: number,
  seq: number,
): { ids: BigInt64Array; mask: BigInt64Array; types: BigInt64Array } {
  const ids = new BigInt64Array(batch * seq);
  const mask = new BigInt64Array(batch * seq);
  const types = new BigInt64Array(batch * seq);
  for (let b = 0; b < batch; b++) {
    const len = seq - ((b * 7) % Math.max(1, Math.floor(seq / 2)));
    for (let s = 0; s < len; s++) {
      const i = b * seq + s;
      ids[i] = s === 0 ? 101n : s === len - 1 ? 102n : BigInt(1000 + ((b * 7919 + s * 104729) % 29000));
      mask[i] = 1n;
    }
  }
  return { ids, mask, types };
}

async function loadModel(): Promise<{ bytes: Uint8Array | string; label: string }> {
  if (values.model) return { bytes: values.model, label: values.model };
  const { bertEncoder } = await import("../../src/onnx/index.ts");
  const cfg =
    values.shape === "small"
      ? { vocabSize: 30522, hidden: 128, layers: 2, heads: 4, intermediate: 512, maxPositions: 512 }
      : { vocabSize: 30522, hidden: 384, layers: 6, heads: 12, intermediate: 1536, maxPositions: 512 };
  const m = bertEncoder(cfg);
  return { bytes: m.bytes, label: `zoo bertEncoder ${cfg.layers}x${cfg.hidden} (${values.shape})` };
}

/** Mean pooling over the attention mask, then L2 normalisation, as its own small model (for the chain rows). */
async function poolModel(): Promise<Uint8Array> {
  const { GraphBuilder } = await import("../../src/onnx/index.ts");
  const { tensor } = await import("../../src/tensor/index.ts");
  const g = new GraphBuilder({ name: "mean_pool", opset: 17 });
  g.input("last_hidden_state", "float32", ["batch", "sequence", null]);
  g.input("attention_mask", "int64", ["batch", "sequence"]);
  const m = g.op("Unsqueeze", [
    g.op("Cast", ["attention_mask"], { to: 1 }),
    g.constant(tensor([-1n], "int64")),
  ]);
  const axis1 = g.constant(tensor([1n], "int64"));
  const sum = g.op("ReduceSum", [g.op("Mul", ["last_hidden_state", m]), axis1], { keepdims: 0 });
  const count = g.op("Max", [g.op("ReduceSum", [m, axis1], { keepdims: 0 }), g.constant(tensor(1e-9))]);
  const mean = g.op("Div", [sum, count]);
  const norm = g.op("Max", [
    g.op("ReduceL2", [mean], { axes: [-1], keepdims: 1 }),
    g.constant(tensor(1e-12)),
  ]);
  g.node("Div", [mean, norm], ["embeddings"]);
  g.output("embeddings", "float32", ["batch", null]);
  return g.toBytes();
}

interface Row {
  name: string;
  createMs: number;
  firstMs: number;
  runsPerS: number;
  tokensPerS: number;
  p50Ms: number;
  runs: number;
  note?: string;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

/** Runs `once` repeatedly for SECONDS (at least 3 times); returns steady-state figures. */
async function steady(once: () => Promise<void>): Promise<{ runsPerS: number; p50Ms: number; runs: number }> {
  const times: number[] = [];
  const t0 = performance.now();
  while (times.length < 3 || performance.now() - t0 < SECONDS * 1000) {
    const t = performance.now();
    await once();
    times.push(performance.now() - t);
  }
  const total = times.reduce((a, b) => a + b, 0);
  return { runsPerS: (times.length * 1000) / total, p50Ms: pct(times, 50), runs: times.length };
}

function sessionOptions(provider: string): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [provider],
    intraOpNumThreads: CORES,
    graphOptimizationLevel: "all",
    logSeverityLevel: 3,
  };
}

async function main(): Promise<void> {
  const { bytes, label } = await loadModel();
  const inp = benchInputs(BATCH, SEQ);
  const feeds = {
    input_ids: new ort.Tensor("int64", inp.ids, [BATCH, SEQ]),
    attention_mask: new ort.Tensor("int64", inp.mask, [BATCH, SEQ]),
    token_type_ids: new ort.Tensor("int64", inp.types, [BATCH, SEQ]),
  };
  const tokens = BATCH * SEQ;
  const rows: Row[] = [];
  const outputs = new Map<string, Float32Array>();
  const unavailable: Record<string, string> = {};

  for (const provider of PROVIDERS) {
    let session: ort.InferenceSession;
    const tc = performance.now();
    try {
      session = await (typeof bytes === "string"
        ? ort.InferenceSession.create(bytes, sessionOptions(provider))
        : ort.InferenceSession.create(bytes, sessionOptions(provider)));
    } catch (err) {
      unavailable[provider] = (err as Error).message.split("\n")[0] ?? String(err);
      continue;
    }
    const createMs = performance.now() - tc;
    const tf = performance.now();
    const first = await session.run(feeds);
    const firstMs = performance.now() - tf;
    const out = first.last_hidden_state;
    if (out) outputs.set(provider, (await out.getData()) as Float32Array);
    const s = await steady(async () => {
      await session.run(feeds);
    });
    rows.push({ name: provider, createMs, firstMs, ...s, tokensPerS: s.runsPerS * tokens });
    if (out) {
      // Preallocated output: ORT writes last_hidden_state into our buffer instead of allocating one per run.
      const fetches = { last_hidden_state: new ort.Tensor("float32", new Float32Array(out.size), out.dims) };
      const tp = performance.now();
      await session.run(feeds, fetches);
      const firstP = performance.now() - tp;
      const sp = await steady(async () => {
        await session.run(feeds, fetches);
      });
      rows.push({
        name: `${provider}, preallocated output`,
        createMs: 0,
        firstMs: firstP,
        ...sp,
        tokensPerS: sp.runsPerS * tokens,
      });
    }
    await session.release();
  }

  // Chain: encoder → mean-pool, with the hidden states downloaded or kept on the device.
  if (PROVIDERS.includes("webgpu") && !unavailable.webgpu) {
    const pool = await poolModel();
    for (const where of ["cpu", "gpu-buffer"] as const) {
      const tc = performance.now();
      const opts: ort.InferenceSession.SessionOptions = {
        ...sessionOptions("webgpu"),
        preferredOutputLocation: where,
      };
      const enc = await (typeof bytes === "string"
        ? ort.InferenceSession.create(bytes, opts)
        : ort.InferenceSession.create(bytes, opts));
      const pooler = await ort.InferenceSession.create(pool, sessionOptions("webgpu"));
      const createMs = performance.now() - tc;
      const once = async () => {
        const h = (await enc.run(feeds)).last_hidden_state;
        if (!h) throw new Error("encoder has no last_hidden_state output");
        await pooler.run({ last_hidden_state: h, attention_mask: feeds.attention_mask });
        // Never call getData() on a gpu-buffer tensor in onnxruntime-node 1.30: it aborts the process.
        if (where === "gpu-buffer") h.dispose();
      };
      const tf = performance.now();
      await once();
      const firstMs = performance.now() - tf;
      const s = await steady(once);
      rows.push({
        name: `webgpu chain, hidden states ${where === "cpu" ? "via CPU" : "kept on device"}`,
        createMs,
        firstMs,
        ...s,
        tokensPerS: s.runsPerS * tokens,
      });
      await enc.release();
      await pooler.release();
    }
  }

  let maxDiff: number | undefined;
  const cpuOut = outputs.get("cpu");
  const gpuOut = outputs.get("webgpu");
  if (cpuOut && gpuOut) {
    maxDiff = 0;
    for (let i = 0; i < cpuOut.length; i++)
      maxDiff = Math.max(maxDiff, Math.abs((cpuOut[i] as number) - (gpuOut[i] as number)));
  }
  if (values["dump-dir"]) {
    for (const [p, data] of outputs) writeFileSync(join(values["dump-dir"], `ort-${p}.f32`), data);
    writeFileSync(
      join(values["dump-dir"], "ort-shape.json"),
      JSON.stringify({ batch: BATCH, seq: SEQ, hidden: (cpuOut ?? gpuOut ?? []).length / tokens }),
    );
  }

  const base = rows.find((r) => r.name === "cpu");
  const chainBase = rows.find((r) => r.name.includes("via CPU"));
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ model: label, batch: BATCH, seq: SEQ, cores: CORES, ort: ort.env.versions.node, rows, maxAbsDiffWebgpuVsCpu: maxDiff, unavailable })}\n`,
    );
    return;
  }
  console.log(
    `model: ${label}; batch ${BATCH} x seq ${SEQ} (padded tokens ${tokens}); ${CORES} cores; onnxruntime-node ${ort.env.versions.node}`,
  );
  console.log(
    `${"row".padEnd(44)} ${"create ms".padStart(9)} ${"first ms".padStart(9)} ${"runs/s".padStart(8)} ${"tokens/s".padStart(10)} ${"p50 ms".padStart(8)} ${"runs".padStart(5)}  ratio`,
  );
  for (const r of rows) {
    const ref = r.name.startsWith("webgpu chain")
      ? chainBase
      : r.name.endsWith("preallocated output")
        ? rows.find((x) => x.name === r.name.split(",")[0])
        : base;
    const ratio = ref && ref !== r ? `${(r.runsPerS / ref.runsPerS).toFixed(2)}x vs ${ref.name}` : "baseline";
    console.log(
      `${r.name.padEnd(44)} ${r.createMs.toFixed(0).padStart(9)} ${r.firstMs.toFixed(1).padStart(9)} ${r.runsPerS.toFixed(2).padStart(8)} ${r.tokensPerS.toFixed(0).padStart(10)} ${r.p50Ms.toFixed(1).padStart(8)} ${String(r.runs).padStart(5)}  ${ratio}`,
    );
  }
  if (maxDiff !== undefined)
    console.log(`max |webgpu - cpu| on last_hidden_state: ${maxDiff.toExponential(2)}`);
  for (const [p, why] of Object.entries(unavailable)) console.log(`${p}: unavailable (${why})`);
}

await main();
