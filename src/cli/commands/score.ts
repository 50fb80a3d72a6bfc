/** `tessera score`: stream files through a model into an output file (bounded memory, resumable). */
import * as path from "node:path";
import { expandInputs, PipelineError, type ScoreOptions, scoreFiles } from "../../pipeline/index.ts";
import { type InferenceSession, ModelRegistry, openSession } from "../../runtime/index.ts";
import { loadHfFolder, TextClassifier, TextEmbedder } from "../../text/index.ts";
import { TesseraError } from "../../tensor/index.ts";
import { EXIT, EXIT_CODES_HELP, type Io, parseFlags, reportError, stdio } from "../args.ts";

export const help = `usage: tessera score --model (NAME --models DIR | PATH.onnx) --input FILE|GLOB --output FILE [flags]

Scores every row of the input files with the model and writes predictions beside key columns.
Inputs are read as a stream of record batches (Parquet by row group, Arrow IPC, CSV/JSONL in chunks), so
memory stays flat whatever the input size. Formats come from the extensions: .parquet .arrow/.feather
(Arrow IPC file) .arrows (Arrow IPC stream) .csv .tsv .jsonl/.ndjson (and .json for JSON Lines inputs, as
Spark names them); the text ones may be gzip-compressed (.csv.gz .tsv.gz .jsonl.gz .ndjson.gz, read as a
stream), inputs and outputs alike.

While running, numbered parts are committed atomically to OUTPUT.parts/ with a checkpoint; at the end they
are merged into OUTPUT, and OUTPUT.manifest.json (model, inputs with sha256, options, row counts, timings)
and, if rows were rejected, OUTPUT.rejects.jsonl are written. After a crash or Ctrl-C, rerun the same
command with --resume: the result is identical to an uninterrupted run (after Ctrl-C or a bad-row stop, a
Parquet/Arrow output has the same rows in the same order, but split into row groups at the stop).

flags:
  --model NAME|PATH      a model name in --models DIR, or a path to an .onnx file
  --models DIR           model repository (for --model NAME)
  --model-version N      version of a repository model (default: latest)
  --input FILE|GLOB      input file or glob; repeat for several (scored in sorted order)
  --output FILE          output file (its extension picks the format)
  --columns a,b,c        feature columns for the model input, in order (default: every numeric or list
                         column that is not a key column)
  --text-column NAME     score a text column with a Hugging Face text model in the repository: an
                         embedding model writes an "embedding" column; a sequence classifier
                         (*ForSequenceClassification with id2label, e.g. sentiment, go_emotions) writes
                         "label" (best label), "score" (its score) and "scores" (every label's score,
                         in id2label order, listed in the manifest as model.labels; softmax, or sigmoid
                         per label for a multi-label model); a re-ranker (one score) is refused
  --truncate             with --text-column: cut texts over the model's token limit (default: such a row
                         is a bad row, see --on-error)
  --key-columns id,...   columns copied to the output before the predictions
  --outputs a,b          model outputs to write (default: all); with labels in the model config (or
                         --labels) the argmax is added as label_index and label, which --outputs may
                         also name (e.g. --outputs label writes the labels alone); for a text
                         classifier, some of label,score,scores
  --labels a,b,c         class labels for an .onnx path model
  --batch-size N         rows per model call (default 4096)
  --part-rows N          input rows per committed part (default 262144)
  --replicas N           worker sessions (default: from the CPU count)
  --in-flight N          model batches in flight (default 2 x replicas)
  --on-error fail|skip   fail (default): stop at the first bad row, naming file, row, column and reason,
                         after committing every row before it; skip: write bad rows to OUTPUT.rejects.jsonl
  --resume               continue an interrupted run from its last committed part
  --overwrite            replace an existing output (and discard an unfinished run)
  --keep-parts           keep OUTPUT.parts/ after merging
  --delimiter C          CSV input delimiter (default , and a tab for .tsv; '\\t' or tab for a tab)
  --progress MODE        auto (default: bar on a terminal, JSON lines otherwise), bar, json or none

examples:
  tessera score --model ./model.onnx --input 'data/*.parquet' --output scores.parquet --key-columns id
  tessera score --model churn --models ./models --input users.csv --output scores.jsonl --on-error skip
  tessera score --model churn --models ./models --input users.csv --output scores.jsonl --resume
  tessera score --model sentiment --models ./models --input reviews.csv --output scored.parquet --text-column review --truncate

${EXIT_CODES_HELP}
  130 interrupted (Ctrl-C); rerun with --resume`;

const FLAGS = {
  model: { type: "string" },
  models: { type: "string" },
  "model-version": { type: "string" },
  input: { type: "string", multiple: true },
  output: { type: "string" },
  columns: { type: "string" },
  "text-column": { type: "string" },
  "key-columns": { type: "string" },
  outputs: { type: "string" },
  labels: { type: "string" },
  "batch-size": { type: "string" },
  "part-rows": { type: "string" },
  replicas: { type: "string" },
  "in-flight": { type: "string" },
  "on-error": { type: "string" },
  resume: { type: "boolean" },
  overwrite: { type: "boolean" },
  "keep-parts": { type: "boolean" },
  truncate: { type: "boolean" },
  delimiter: { type: "string" },
  progress: { type: "string" },
} as const;

export interface ScoreCliOptions {
  readonly model: string;
  readonly models?: string;
  readonly modelVersion?: string;
  readonly inputs: readonly string[];
  readonly output: string;
  readonly columns?: readonly string[];
  readonly textColumn?: string;
  readonly truncate: boolean;
  readonly keyColumns: readonly string[];
  readonly outputs?: readonly string[];
  readonly labels?: readonly string[];
  readonly batchSize?: number;
  readonly partRows?: number;
  readonly replicas?: number;
  readonly inFlight?: number;
  readonly onError: "fail" | "skip";
  readonly resume: boolean;
  readonly overwrite: boolean;
  readonly keepParts: boolean;
  readonly delimiter?: string;
  readonly progress: "auto" | "bar" | "json" | "none";
}

export interface Issue {
  readonly path: string;
  readonly message: string;
}

type Values = {
  [K in keyof typeof FLAGS]?: (typeof FLAGS)[K] extends { multiple: true }
    ? string[]
    : (typeof FLAGS)[K]["type"] extends "boolean"
      ? boolean
      : string;
};

function list(s: string | undefined): string[] | undefined {
  if (s === undefined) return undefined;
  return s
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x.length > 0);
}

/** Validates the parsed flags; every problem is reported. */
export function parseScoreFlags(
  v: Values,
): { ok: true; value: ScoreCliOptions } | { ok: false; issues: Issue[] } {
  const issues: Issue[] = [];
  const int = (name: keyof Values, min: number): number | undefined => {
    const raw = v[name] as string | undefined;
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) {
      issues.push({ path: `--${name}`, message: `expected an integer ≥ ${min}, got ${JSON.stringify(raw)}` });
      return undefined;
    }
    return n;
  };
  if (!v.model)
    issues.push({
      path: "--model",
      message: "required: a model name (with --models DIR) or a path to an .onnx file",
    });
  if (!v.input || v.input.length === 0)
    issues.push({ path: "--input", message: "required: an input file or glob" });
  if (!v.output) issues.push({ path: "--output", message: "required: the output file" });
  if (v.model && !v.models && !v.model.endsWith(".onnx")) {
    issues.push({
      path: "--model",
      message: `"${v.model}" is not an .onnx path; give --models DIR to look up a model name`,
    });
  }
  if (v.columns !== undefined && v["text-column"] !== undefined) {
    issues.push({ path: "--columns", message: "use either --columns or --text-column, not both" });
  }
  if (v.columns !== undefined && (list(v.columns) ?? []).length === 0)
    issues.push({ path: "--columns", message: "empty column list" });
  const onError = v["on-error"] ?? "fail";
  if (onError !== "fail" && onError !== "skip")
    issues.push({ path: "--on-error", message: `expected fail or skip, got ${JSON.stringify(onError)}` });
  const progress = v.progress ?? "auto";
  if (!["auto", "bar", "json", "none"].includes(progress)) {
    issues.push({
      path: "--progress",
      message: `expected auto, bar, json or none, got ${JSON.stringify(progress)}`,
    });
  }
  if (v.truncate && v["text-column"] === undefined)
    issues.push({ path: "--truncate", message: "only applies with --text-column" });
  if (v.resume && v.overwrite)
    issues.push({ path: "--resume", message: "--resume and --overwrite exclude each other" });
  // a shell passes '\t' as two characters: take it (and "tab") as the tab it means
  const delimiter = v.delimiter === "\\t" || v.delimiter?.toLowerCase() === "tab" ? "\t" : v.delimiter;
  if (delimiter !== undefined && (delimiter.length !== 1 || delimiter === '"' || delimiter === "\n"))
    issues.push({
      path: "--delimiter",
      message: `expected one character other than a quote or newline (or \\t), got ${JSON.stringify(v.delimiter)}`,
    });
  const batchSize = int("batch-size", 1);
  const partRows = int("part-rows", 1);
  const replicas = int("replicas", 1);
  const inFlight = int("in-flight", 1);
  if (issues.length > 0) return { ok: false, issues };
  return {
    ok: true,
    value: {
      model: v.model!,
      models: v.models,
      modelVersion: v["model-version"],
      inputs: v.input!,
      output: v.output!,
      columns: list(v.columns),
      textColumn: v["text-column"],
      truncate: v.truncate ?? false,
      keyColumns: list(v["key-columns"]) ?? [],
      outputs: list(v.outputs),
      labels: list(v.labels),
      batchSize,
      partRows,
      replicas,
      inFlight,
      onError: onError as "fail" | "skip",
      resume: v.resume ?? false,
      overwrite: v.overwrite ?? false,
      keepParts: v["keep-parts"] ?? false,
      delimiter,
      progress: progress as ScoreCliOptions["progress"],
    },
  };
}

export async function run(argv: string[], io: Io = stdio): Promise<number> {
  const parsed = parseFlags(argv, FLAGS, help, io);
  if (typeof parsed === "number") return parsed;
  if (parsed.positionals.length > 0) {
    io.err(`error: unexpected argument ${JSON.stringify(parsed.positionals[0])} (see tessera score --help)`);
    return EXIT.USAGE;
  }
  const r = parseScoreFlags(parsed.values as Values);
  if (!r.ok) {
    io.err(`error: invalid flags:\n${r.issues.map((i) => `  ${i.path}: ${i.message}`).join("\n")}`);
    // only required flags missing: a usage error (2), like every command's missing argument; bad values: 3
    return r.issues.every((i) => i.message.startsWith("required:")) ? EXIT.USAGE : EXIT.CONFIG;
  }
  const o = r.value;
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once("SIGINT", onSigint);
  let registry: ModelRegistry | null = null;
  let session: InferenceSession | null = null;
  let embedder: TextEmbedder | null = null;
  let classifier: TextClassifier | null = null;
  try {
    const inputs = expandInputs(o.inputs);
    const base: Omit<ScoreOptions, "model" | "session" | "embedder" | "classifier"> = {
      inputs,
      output: o.output,
      columns: o.columns,
      textColumn: o.textColumn,
      ...(o.truncate ? { truncate: true } : {}),
      keyColumns: o.keyColumns,
      outputs: o.outputs,
      batchSize: o.batchSize,
      partRows: o.partRows,
      inFlight: o.inFlight,
      resume: o.resume,
      overwrite: o.overwrite,
      onError: o.onError,
      keepParts: o.keepParts,
      source: o.delimiter ? { delimiter: o.delimiter } : undefined,
      progress: o.progress === "none" ? false : o.progress === "auto" ? {} : { tty: o.progress === "bar" },
      signal: controller.signal,
    };
    let options: ScoreOptions;
    if (o.models) {
      registry = new ModelRegistry({
        root: o.models,
        sessionDefaults: o.replicas ? { replicas: o.replicas } : undefined,
      });
      const loaded = await registry.get(o.model, o.modelVersion);
      const model = {
        name: loaded.name,
        version: loaded.version,
        sha256: loaded.description.sha256,
        path: loaded.modelPath,
        labels: o.labels ?? loaded.config.labels,
      };
      if (o.textColumn) {
        // the folder's task picks the class (as the server does); the class reuses the folder read here
        const dir = loaded.hfDir ?? loaded.dir;
        const folder = loadHfFolder(dir, { onnxFile: path.relative(dir, loaded.modelPath) });
        if (folder.task === "reranker") {
          throw new PipelineError(
            "E_PIPELINE_TEXT",
            `model ${loaded.name} is a re-ranker (a sequence classifier with one score, which rates a query and document pair); --text-column scores single texts with an embedding model or a classifier with labels (config.json id2label)`,
            { model: loaded.name, task: folder.task },
          );
        }
        if (folder.task === "classifier") {
          if (o.labels !== undefined) {
            throw new PipelineError(
              "E_PIPELINE_TEXT",
              `--labels applies to numeric models; model ${loaded.name} is a text classifier, whose labels come from its config.json id2label`,
              { model: loaded.name, field: "--labels" },
            );
          }
          classifier = await TextClassifier.load(loaded, { folder });
          options = { ...base, model: { ...model, labels: classifier.labels }, classifier };
        } else {
          embedder = await TextEmbedder.load(loaded, { folder });
          options = { ...base, model, embedder };
        }
      } else options = { ...base, model, session: loaded.session };
    } else {
      if (o.textColumn) {
        throw new PipelineError(
          "E_PIPELINE_TEXT",
          "--text-column needs a text model from a repository (--models DIR)",
          {},
        );
      }
      session = await openSession(o.model, {
        label: o.model,
        ...(o.replicas ? { replicas: o.replicas } : {}),
      });
      const model = {
        name: path.basename(o.model, ".onnx"),
        version: "file",
        sha256: session.description.sha256,
        path: path.resolve(o.model),
        labels: o.labels,
      };
      options = { ...base, model, session };
    }
    const s = await scoreFiles(options);
    if (s.alreadyComplete)
      io.err(`${s.output} is already complete (${s.rowsScored} rows scored); nothing to resume`);
    return EXIT.OK;
  } catch (e) {
    if (e instanceof TesseraError && e.facts.aborted === true) {
      io.err(`interrupted: committed parts are kept; rerun the same command with --resume to continue`);
      return 130;
    }
    if (e instanceof TesseraError && e.code === "E_PIPELINE_NO_INPUT") {
      io.err(`error ${e.code}: ${e.message}`);
      return EXIT.NOT_FOUND;
    }
    return reportError(e, io);
  } finally {
    process.off("SIGINT", onSigint);
    await embedder?.close().catch(() => undefined);
    await classifier?.close().catch(() => undefined);
    await session?.close().catch(() => undefined);
    await registry?.close().catch(() => undefined);
  }
}
