/**
 * bench/embed: sentence embeddings on the MiniLM-shaped fixture, Tessera vs peers, in one run.
 *
 *   node --import tsx bench/embed/embed.ts [--n 512] [--reps 2] [--model bench/.fixtures/minilm-shape] [--only a,b]
 *
 * Build the fixture first (see shared/fixtures/README.md):
 *   /usr/bin/python3 ../shared/fixtures/make_fixture.py --out bench/.fixtures/minilm-shape
 *
 * Configurations (each in its own child process, so peak RSS is its own):
 *   tjs-b1, tjs-b32   transformers.js feature-extraction pipeline (mean pooling + normalize), batch 1 / 32, corpus order
 *   ort-b1            raw onnxruntime-node, one sentence per run (tokenize + run + mean pool + normalize)
 *   ort-b8-sorted     raw onnxruntime-node, length-sorted batches of 8 (padding to the longest of the 8)
 *   tessera-lib       TextEmbedder.embed(all sentences) (token-budget length-sorted batches on worker replicas)
 *   tessera-server    POST /v1/embeddings over 127.0.0.1, 32 concurrent clients, one sentence per request
 * Every configuration embeds the first N sentences of shared/fixtures/corpus.jsonl; the first call
 * (warm-up on 32 sentences) is reported apart from the steady-state passes; each configuration runs
 * `--reps` timed passes and the best one counts (the machine is shared: the least disturbed pass is
 * the closest to the configuration's own speed); every pass is printed. Outputs are cross-checked
 * against the ort-b1 embeddings (max abs difference).
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";

const ROOT = resolve(import.meta.dirname, "..", "..");
const CORPUS = process.env.TESSERA_CORPUS ?? resolve(ROOT, "..", "shared", "fixtures", "corpus.jsonl");

interface Result {
  name: string;
  sentences: number;
  tokens: number;
  firstMs: number;
  seconds: number;
  peakRssMB: number;
  /** Seconds of every timed pass (`seconds` is the best). */
  all: number[];
  /** First 4 values of a few embeddings, to cross-check configurations. */
  probe: number[][];
}

const { values: args } = parseArgs({
  options: {
    n: { type: "string", default: "512" },
    model: { type: "string", default: join(ROOT, "bench/.fixtures/minilm-shape") },
    only: { type: "string" },
    child: { type: "string" },
    reps: { type: "string", default: "2" },
  },
});
const N = Number(args.n);
const REPS = Math.max(1, Number(args.reps));
const MODEL = resolve(args.model as string);

/** corpus.jsonl rows (the first `limit`): text and its token count from shared/fixtures/wordpiece.py. */
function corpusRows(limit?: number): { text: string; tokens: number }[] {
  const lines = readFileSync(CORPUS, "utf8").trim().split("\n").slice(0, limit);
  return lines.map((l) => JSON.parse(l) as { text: string; tokens: number });
}

function corpus(): { texts: string[]; tokens: number } {
  const rows = corpusRows(N);
  return { texts: rows.map((r) => r.text), tokens: rows.reduce((s, r) => s + r.tokens, 0) };
}

/** Runs the timed pass REPS times; the best (least disturbed) pass counts, all are reported. */
async function bestOf<T>(pass: () => Promise<T>): Promise<{ out: T; seconds: number; all: number[] }> {
  let out: T | undefined;
  const all: number[] = [];
  for (let r = 0; r < REPS; r++) {
    const t = performance.now();
    out = await pass();
    all.push((performance.now() - t) / 1000);
  }
  return { out: out as T, seconds: Math.min(...all), all };
}

/**
 * One configuration's measurement: `first` (a small cold call) timed once, then `pass` (the whole corpus) by
 * `bestOf`; `row(out, i)` reads sentence i's vector from the last pass for the cross-check probe.
 */
async function measure<T>(
  corpusSize: { sentences: number; tokens: number },
  first: () => Promise<unknown>,
  pass: () => Promise<T>,
  row: (out: T, i: number) => ArrayLike<number>,
): Promise<Omit<Result, "name" | "peakRssMB">> {
  const t0 = performance.now();
  await first();
  const firstMs = performance.now() - t0;
  const { out, seconds, all } = await bestOf(pass);
  return { ...corpusSize, firstMs, seconds, all, probe: probeOf((i) => row(out, i)) };
}

const PROBE_IDX = [0, 1, 7, 100];
function probeOf(get: (i: number) => ArrayLike<number>): number[][] {
  return PROBE_IDX.filter((i) => i < N).map((i) => Array.from(get(i)).slice(0, 4));
}

function meanPoolNormalize(
  h: Float32Array,
  row: number,
  seqLen: number,
  dim: number,
  len: number,
): Float32Array {
  const acc = new Float64Array(dim);
  for (let t = 0; t < len; t++)
    for (let d = 0; d < dim; d++) acc[d] = (acc[d] as number) + (h[(row * seqLen + t) * dim + d] as number);
  let s = 0;
  for (let d = 0; d < dim; d++) {
    acc[d] = (acc[d] as number) / len;
    s += (acc[d] as number) ** 2;
  }
  const inv = 1 / Math.sqrt(s);
  return Float32Array.from(acc, (x) => x * inv);
}

// ---------------------------------------------------------------- configurations (run in a child)

async function runTjs(batch: number): Promise<Omit<Result, "name" | "peakRssMB">> {
  const { pipeline, env } = await import("@huggingface/transformers");
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = `${dirname(MODEL)}/`;
  const extractor = await pipeline("feature-extraction", MODEL.split("/").at(-1) as string, {
    dtype: "fp32",
  });
  const { texts, tokens } = corpus();
  const result = await measure(
    { sentences: texts.length, tokens },
    () => extractor(texts.slice(0, Math.min(32, batch)), { pooling: "mean", normalize: true }),
    async () => {
      const o: number[][] = [];
      for (let i = 0; i < texts.length; i += batch) {
        const r = await extractor(texts.slice(i, i + batch), { pooling: "mean", normalize: true });
        o.push(...(r.tolist() as number[][]));
      }
      return o;
    },
    (out, i) => out[i] as number[],
  );
  await extractor.dispose();
  return result;
}

async function runOrt(batch: number, sorted: boolean): Promise<Omit<Result, "name" | "peakRssMB">> {
  const ort = await import("onnxruntime-node");
  const { Tokenizer } = await import("@huggingface/tokenizers");
  const tok = new Tokenizer(
    JSON.parse(readFileSync(join(MODEL, "tokenizer.json"), "utf8")),
    JSON.parse(readFileSync(join(MODEL, "tokenizer_config.json"), "utf8")),
  );
  const session = await ort.InferenceSession.create(join(MODEL, "onnx", "model.onnx"));
  const { texts, tokens } = corpus();
  const embedBatch = async (idx: number[]): Promise<Float32Array[]> => {
    const enc: number[][] = idx.map((i) => tok.encode(texts[i] as string).ids);
    const L = Math.max(...enc.map((e) => e.length));
    const ids = new BigInt64Array(idx.length * L);
    const mask = new BigInt64Array(idx.length * L);
    enc.forEach((e, r) => {
      e.forEach((id, t) => {
        ids[r * L + t] = BigInt(id);
        mask[r * L + t] = 1n;
      });
    });
    const dims = [idx.length, L];
    const res = await session.run({
      input_ids: new ort.Tensor("int64", ids, dims),
      attention_mask: new ort.Tensor("int64", mask, dims),
      token_type_ids: new ort.Tensor("int64", new BigInt64Array(idx.length * L), dims),
    });
    const h = res.last_hidden_state as InstanceType<typeof ort.Tensor>;
    const dim = h.dims[2] as number;
    return enc.map((e, r) => meanPoolNormalize(h.data as Float32Array, r, L, dim, e.length));
  };
  const result = await measure(
    { sentences: texts.length, tokens },
    () => embedBatch([0]),
    async () => {
      const order = texts.map((_, i) => i);
      const o: Float32Array[] = new Array(texts.length);
      if (sorted) {
        // Sorting is part of the work: done inside the timed region.
        const lens = texts.map((t) => tok.encode(t).ids.length);
        order.sort((a, b) => (lens[a] as number) - (lens[b] as number));
      }
      for (let i = 0; i < order.length; i += batch) {
        const idx = order.slice(i, i + batch);
        const vs = await embedBatch(idx);
        idx.forEach((j, k) => {
          o[j] = vs[k] as Float32Array;
        });
      }
      return o;
    },
    (out, i) => out[i] as Float32Array,
  );
  await session.release();
  return result;
}

async function runLib(): Promise<Omit<Result, "name" | "peakRssMB">> {
  const { TextEmbedder } = await import("../../src/text/index.ts");
  const emb = await TextEmbedder.load(MODEL, { normalize: true });
  const { texts, tokens } = corpus();
  const result = await measure(
    { sentences: texts.length, tokens },
    () => emb.embed(texts.slice(0, 32)),
    () => emb.embed(texts),
    (out, i) => {
      const d = out.shape[1] as number;
      return out.data.subarray(i * d, (i + 1) * d);
    },
  );
  await emb.close();
  return result;
}

async function runServer(clients: number): Promise<Omit<Result, "name" | "peakRssMB">> {
  const { buildApp } = await import("../../src/server/index.ts");
  const pino = (await import("pino")).default;
  const root = mkdtempSync(join(tmpdir(), "tessera-bench-embed-"));
  mkdirSync(join(root, "minilm"));
  writeFileSync(
    join(root, "minilm", "config.json"),
    JSON.stringify({ kind: "hf", source: MODEL, maxInputs: 2048 }),
  );
  const app = await buildApp({
    config: { modelsDir: root },
    logger: pino({ level: "silent" }),
    defaultMetrics: false,
  });
  await app.tessera.loading;
  const base = await app.listen({ host: "127.0.0.1", port: 0 });
  const { texts, tokens } = corpus();
  // A keep-alive node:http client (lighter than fetch, so the load generator steals less CPU).
  const { Agent, request } = await import("node:http");
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const url = new URL(`${base}/v1/embeddings`);
  const embedOne = (text: string): Promise<Float32Array> =>
    new Promise((res, rej) => {
      const body = JSON.stringify({ model: "minilm", input: text, encoding_format: "base64" });
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: "POST",
          agent,
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        },
        (r) => {
          const chunks: Buffer[] = [];
          r.on("data", (c: Buffer) => chunks.push(c));
          r.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            if (r.statusCode !== 200) return rej(new Error(`HTTP ${r.statusCode}: ${text}`));
            const j = JSON.parse(text) as { data: { embedding: string }[] };
            const b = Buffer.from(j.data[0]?.embedding ?? "", "base64");
            res(new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4));
          });
          r.on("error", rej);
        },
      );
      req.on("error", rej);
      req.end(body);
    });
  const drive = async (list: string[]): Promise<Float32Array[]> => {
    const out: Float32Array[] = new Array(list.length);
    let next = 0;
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (next < list.length) {
          const i = next++;
          out[i] = await embedOne(list[i] as string);
        }
      }),
    );
    return out;
  };
  const result = await measure(
    { sentences: texts.length, tokens },
    () => drive(texts.slice(0, 32)),
    () => drive(texts),
    (out, i) => out[i] as Float32Array,
  );
  agent.destroy();
  await app.close();
  rmSync(root, { recursive: true, force: true });
  return result;
}

const CONFIGS: Record<string, () => Promise<Omit<Result, "name" | "peakRssMB">>> = {
  "tjs-b1": () => runTjs(1),
  "tjs-b32": () => runTjs(32),
  "ort-b1": () => runOrt(1, false),
  "ort-b8-sorted": () => runOrt(8, true),
  "tessera-lib": () => runLib(),
  "tessera-server": () => runServer(32),
};

// ---------------------------------------------------------------- driver

function runChild(name: string): Promise<Result> {
  return new Promise((res, rej) => {
    const p = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        import.meta.filename,
        "--child",
        name,
        "--n",
        String(N),
        "--model",
        MODEL,
        "--reps",
        String(REPS),
      ],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    let out = "";
    p.stdout.on("data", (d) => {
      out += d;
    });
    p.on("close", (code) => {
      const line = out.trim().split("\n").at(-1) ?? "";
      if (code !== 0) rej(new Error(`${name} exited ${code}: ${out.slice(-500)}`));
      else res(JSON.parse(line) as Result);
    });
  });
}

async function main(): Promise<void> {
  if (args.child) {
    const fn = CONFIGS[args.child];
    if (!fn) throw new Error(`unknown config ${args.child}`);
    const r = await fn();
    const peakRssMB = process.resourceUsage().maxRSS / 1024;
    process.stdout.write(`${JSON.stringify({ name: args.child, ...r, peakRssMB })}\n`);
    process.exit(0);
  }
  // Cross-check: Tessera's token counts against the corpus's own (shared/fixtures/wordpiece.py, full vocab).
  {
    const { loadHfFolder } = await import("../../src/text/index.ts");
    const tok = loadHfFolder(MODEL).tokenizer;
    const rows = corpusRows();
    const bad = rows.filter((r) => tok.countTokens(r.text) !== r.tokens).length;
    process.stderr.write(
      `token counts vs corpus.jsonl (wordpiece.py): ${rows.length - bad}/${rows.length} equal\n`,
    );
  }
  const names = args.only ? args.only.split(",") : Object.keys(CONFIGS);
  const results: Result[] = [];
  for (const name of names) {
    process.stderr.write(`running ${name} ...\n`);
    results.push(await runChild(name));
  }
  const sps = (r: Result) => r.sentences / r.seconds;
  const ref = results.find((r) => r.name === "ort-b1");
  const maxDiff = (r: Result) => {
    if (!ref) return Number.NaN;
    let m = 0;
    r.probe.forEach((row, i) => {
      row.forEach((v, j) => {
        m = Math.max(m, Math.abs(v - (ref.probe[i]?.[j] ?? Number.NaN)));
      });
    });
    return m;
  };
  const bestRaw = Math.max(...results.filter((r) => r.name.startsWith("ort-")).map(sps));
  const tjs32 = results.find((r) => r.name === "tjs-b32");
  const lib = results.find((r) => r.name === "tessera-lib");
  const lines = [
    `MiniLM-shaped fixture (6 layers, hidden 384), first ${N} corpus sentences (${results[0]?.tokens ?? "?"} tokens incl. [CLS]/[SEP])`,
    "",
    `| config | first call ms | sentences/s (best of ${REPS}) | tokens/s | all passes, sentences/s | peak RSS MB | × best raw ORT | max |Δ| vs ort-b1 |`,
    "|---|---|---|---|---|---|---|---|",
    ...results.map(
      (r) =>
        `| ${r.name} | ${r.firstMs.toFixed(0)} | ${sps(r).toFixed(1)} | ${(r.tokens / r.seconds).toFixed(0)} | ${r.all.map((x) => (r.sentences / x).toFixed(0)).join(", ")} | ${r.peakRssMB.toFixed(0)} | ${(sps(r) / bestRaw).toFixed(2)} | ${maxDiff(r).toExponential(1)} |`,
    ),
    "",
  ];
  if (lib) {
    lines.push(`library / best raw ORT config: ${(sps(lib) / bestRaw).toFixed(2)}× (target ≥ 1.1)`);
    if (tjs32)
      lines.push(`library / transformers.js batch 32: ${(sps(lib) / sps(tjs32)).toFixed(2)}× (target ≥ 4)`);
    const srv = results.find((r) => r.name === "tessera-server");
    if (srv) lines.push(`server / library: ${(sps(srv) / sps(lib)).toFixed(2)}× (target ≥ 0.85)`);
  }
  lines.push(
    `node ${process.version}; ${availableParallelism()} cores (${cpus()[0]?.model ?? "?"}); shared machine: timings are noisy`,
  );
  process.stdout.write(`${lines.join("\n")}\n`);
}

await main();
