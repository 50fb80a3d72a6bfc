/**
 * scoreFiles: stream input files through a model into an output file, in bounded memory, resumably.
 *
 * Steps per model batch: read (source chunk → exact-size slice) → validate (problems, nulls in input
 * columns → rejects or stop) → build features column-wise → run on a worker session (up to `inFlight`
 * batches at once; the next batch is decoded while they run) → outputs + key columns → part sink.
 *
 * Output layout while running (`<output>.parts/`):
 *   part-00000.<ext>            rows of consecutive model batches, committed atomically (tmp, fsync, rename, fsync dir)
 *   part-00000.rejects.jsonl    rejected rows of that part, committed before the part
 *   checkpoint.json             written atomically after each part: parts, input cursor, counters, timings
 * At the end the parts are merged in order into `<output>` (tmp + rename; Parquet row groups and CSV/JSONL bytes
 * are copied without decoding, Arrow batches are re-framed), `<output>.manifest.json` and
 * `<output>.rejects.jsonl` are written, and the parts folder is removed. `resume: true` continues from the
 * last committed part; batches are cut at the same rows as in a clean run, so the output is identical.
 */
import { createHash, randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import type { InferenceSession, RunOptions, TensorMap } from "../runtime/index.ts";
import { concat, Tensor, TesseraError } from "../tensor/index.ts";
import { commitFile, fsyncDir, writeFileAtomic } from "./atomic.ts";
import {
  type Column,
  cellValue,
  type FieldSpec,
  filterBatch,
  type RecordBatch,
  schemaOf,
  sliceBatch,
} from "./batch.ts";
import { PipelineError } from "./errors.ts";
import {
  buildFeatures,
  type InputPlan,
  type OutputPlan,
  outputColumns,
  planInputs,
  planOutputs,
} from "./mapping.ts";
import { type ProgressOptions, ProgressReporter, type ProgressState } from "./progress.ts";
import { rebatch, type Slice } from "./rebatch.ts";
import { fsyncPath, mergeParquet, openSink, type Sink } from "./sinks/index.ts";
import {
  type Compression,
  type FileFormat,
  type FileKind,
  fileKindOf,
  openSource,
  type Source,
  type SourceCursor,
  type SourceOptions,
} from "./sources/index.ts";

/** What the run manifest records about the model. */
export interface ScoreModelInfo {
  readonly name: string;
  readonly version: string;
  readonly sha256: string;
  readonly path?: string;
  /** Class labels (index → label): adds `label_index` and `label` columns. */
  readonly labels?: readonly string[];
}

/** A text embedder (src/text TextEmbedder fits): texts → `[n, dim]` float32. */
export interface TextEmbedderLike {
  embed(texts: readonly string[], options?: { truncate?: boolean }): Promise<Tensor<"float32">>;
}

/** One label's score, as a text classifier returns it. */
export interface LabelScoreLike {
  readonly label: string;
  readonly score: number;
}

/**
 * A text classifier (src/text TextClassifier fits): texts → each text's labels with scores, best first (ties in
 * label order). An input it cannot take throws a TesseraError with an `index` fact: `E_TEXT_TOO_LONG` (with
 * `tokens`, `maxTokens`) or `E_TEXT_INPUT`.
 */
export interface TextClassifierLike {
  /** Label of each score, in the model's order (config.json `id2label`); names must be distinct. */
  readonly labels: readonly string[];
  classify(
    texts: readonly string[],
    options?: { truncate?: boolean },
  ): Promise<readonly (readonly LabelScoreLike[])[]>;
}

/** The columns a text classifier writes, in this order (see `ScoreOptions.classifier`). */
export const CLASSIFIER_COLUMNS = ["label", "score", "scores"] as const;

export interface ScoreOptions {
  /** Numeric model session (use this, `embedder` or `classifier`). */
  readonly session?: InferenceSession;
  /** Text embedder scoring `textColumn` into an `embedding` vector column. */
  readonly embedder?: TextEmbedderLike;
  /**
   * Text classifier scoring `textColumn` into `label` (utf8: the best label), `score` (float32: its score) and
   * `scores` (float32 vector: every label's score, in `classifier.labels` order, which the manifest records as
   * `model.labels`). The scores are the classifier's (softmax, or sigmoid per label for a multi-label model).
   * `outputs` may keep some of these three columns.
   */
  readonly classifier?: TextClassifierLike;
  readonly model: ScoreModelInfo;
  /** Input files, scored in this order (expand globs first, see `expandInputs`). */
  readonly inputs: readonly string[];
  readonly output: string;
  /** Output format; default from the output's extension. */
  readonly outputFormat?: FileFormat;
  /** Feature columns for the model's single input, in order. Default: every numeric/vector column not a key. */
  readonly columns?: readonly string[];
  /** Model input name → feature columns, for models with several inputs. */
  readonly mapping?: Readonly<Record<string, readonly string[]>>;
  /** Text column for `embedder` or `classifier`. */
  readonly textColumn?: string;
  /**
   * Cut texts longer than the text model's token limit. Default false: such a row is a bad row (stops the job, or
   * goes to the rejects file with `onError: "skip"`).
   */
  readonly truncate?: boolean;
  /** Columns copied to the output before the predictions. */
  readonly keyColumns?: readonly string[];
  /** Model outputs to keep (default: all). */
  readonly outputs?: readonly string[];
  /** Rows per model call. Default 4096. */
  readonly batchSize?: number;
  /** Model batches in flight at once. Default 2 × session replicas. */
  readonly inFlight?: number;
  /** Input rows per committed part (rounded up to whole batches). Default 262144. */
  readonly partRows?: number;
  readonly resume?: boolean;
  readonly overwrite?: boolean;
  /** "fail" (default): stop at the first bad row; "skip": write it to the rejects file and go on. */
  readonly onError?: "fail" | "skip";
  /** Keep `<output>.parts/` after merging. Default false. */
  readonly keepParts?: boolean;
  /** CSV/JSONL reading options (chunk size, schema, delimiter). */
  readonly source?: Pick<SourceOptions, "chunkBytes" | "schema" | "delimiter">;
  /** Progress reporting; `false` turns it off. Default: stderr (bar on a TTY, JSON lines otherwise). */
  readonly progress?: false | Partial<Omit<ProgressOptions, "totalRows" | "totalBytes">>;
  /** Recorded in the manifest (scoring itself is deterministic). Default 0. */
  readonly seed?: number;
  /** Stops after the batches in flight, commits them, and rejects with `E_ABORTED`. */
  readonly signal?: AbortSignal;
}

export interface ScoreSummary {
  readonly output: string;
  readonly manifest: string;
  readonly rejects: string | null;
  readonly rowsRead: number;
  readonly rowsScored: number;
  readonly rowsRejected: number;
  readonly parts: number;
  readonly seconds: number;
  /** True when --resume found the job already finished. */
  readonly alreadyComplete?: boolean;
}

interface Cursor extends SourceCursor {
  readonly file: number;
}

interface PartRecord {
  readonly index: number;
  readonly file: string | null;
  readonly rejectsFile: string | null;
  readonly rowsRead: number;
  readonly rowsScored: number;
  readonly rowsRejected: number;
  readonly bytes: number;
  readonly cursor: Cursor;
}

interface Timings {
  readMs: number;
  prepareMs: number;
  inferMs: number;
  writeMs: number;
  mergeMs: number;
  wallMs: number;
}

interface Checkpoint {
  readonly version: 1;
  readonly fingerprint: string;
  /** What the fingerprint hashes (to say what changed when a resume is refused). */
  readonly basis?: Record<string, unknown>;
  readonly format: FileFormat;
  /** Output schema (keys + predictions), fixed by the first result. */
  fields: FieldSpec[] | null;
  /** How outputs become columns (fixed by the first result, reused on resume). */
  outputPlan: OutputPlan | null;
  parts: PartRecord[];
  cursor: Cursor;
  /** Rows read from each input (by index) in the committed parts; absent in checkpoints of older versions. */
  fileRows?: number[];
  /** Input columns some row had (`keysSeen`) / some JSONL object lacked (`keysAbsent`), in the rows read so far. */
  keysSeen?: string[];
  keysAbsent?: string[];
  finished: boolean;
  runs: number;
  timings: Timings;
  startedAt: string;
}

interface RejectRecord {
  readonly file: string;
  readonly row: number;
  readonly line?: number;
  readonly column: string | null;
  readonly reason: string;
  readonly keys: Record<string, unknown>;
}

const EXT: Record<FileFormat, string> = {
  parquet: "parquet",
  arrow: "arrow",
  arrows: "arrows",
  csv: "csv",
  jsonl: "jsonl",
};

/** Tessera's package version (for manifests). */
export function tesseraVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version?: string;
    };
    return pkg.version ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** Expands files and simple globs (`*`, `?`, `**`) into a sorted, de-duplicated file list. */
export function expandInputs(patterns: readonly string[]): string[] {
  const out = new Set<string>();
  for (const p of patterns) {
    if (!/[*?[]/.test(p)) {
      if (!fs.existsSync(p))
        throw new PipelineError("E_PIPELINE_NO_INPUT", `input ${p} does not exist`, { input: p });
      if (fs.statSync(p).isDirectory()) {
        throw new PipelineError(
          "E_PIPELINE_NO_INPUT",
          `input ${p} is a directory; give its files or a glob such as '${path.join(p, "*.parquet")}'`,
          { input: p },
        );
      }
      out.add(p);
      continue;
    }
    const nodeGlob = (fs as unknown as { globSync?: (pattern: string) => string[] }).globSync;
    const matches = nodeGlob ? nodeGlob(p) : globFallback(p);
    const files = matches.filter((f) => fs.statSync(f).isFile()).sort();
    if (files.length === 0)
      throw new PipelineError("E_PIPELINE_NO_INPUT", `input pattern ${p} matched no file`, { input: p });
    for (const f of files) out.add(f);
  }
  return [...out];
}

/** `*` and `?` within a path segment, `**` for zero or more directories (symlinked ones are not followed). */
function globFallback(pattern: string): string[] {
  const parts = pattern.split("/").filter((p, i) => !(p === "" && i === 0));
  const out = new Set<string>();
  const isDir = (p: string) => {
    try {
      return fs.statSync(p).isDirectory();
    } catch {
      return false;
    }
  };
  const walk = (dir: string, i: number): void => {
    if (i === parts.length) {
      if (fs.existsSync(dir)) out.add(dir);
      return;
    }
    const part = parts[i]!;
    if (part === "**") {
      walk(dir, i + 1);
      if (!isDir(dir)) return;
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(path.join(dir, e.name), i);
        else if (i === parts.length - 1) out.add(path.join(dir, e.name)); // a trailing ** matches files too
      }
      return;
    }
    if (!/[*?]/.test(part)) {
      walk(path.join(dir, part), i + 1);
      return;
    }
    if (!isDir(dir)) return;
    const re = new RegExp(
      `^${part
        .replace(/[.+^${}()|[\]\\]/g, "\\$&")
        .replace(/\*/g, ".*")
        .replace(/\?/g, ".")}$`,
    );
    for (const e of fs.readdirSync(dir)) if (re.test(e)) walk(path.join(dir, e), i + 1);
  };
  walk(path.isAbsolute(pattern) ? "/" : ".", 0);
  return [...out];
}

/** sha256 of a file's bytes; rejects (stops reading) once `signal` aborts. */
function hashFile(file: string, signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const h = createHash("sha256");
    fs.createReadStream(file, { highWaterMark: 1 << 20, signal })
      .on("data", (d) => h.update(d))
      .on("error", reject)
      .on("end", () => resolve(h.digest("hex")));
  });
}

function partName(i: number): string {
  return `part-${String(i).padStart(5, "0")}`;
}

/** What decides whether a checkpoint can be resumed: inputs (size, mtime), model, options that shape the output. */
function fingerprintOf(
  o: ScoreOptions,
  format: FileFormat,
  batchSize: number,
  compression: Compression,
): {
  key: string;
  basis: Record<string, unknown>;
  inputs: { path: string; size: number; mtimeMs: number }[];
} {
  const inputs = o.inputs.map((p) => {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch (e) {
      throw new PipelineError("E_PIPELINE_NO_INPUT", `input ${p}: ${(e as Error).message}`, { input: p });
    }
    return { path: path.resolve(p), size: st.size, mtimeMs: Math.floor(st.mtimeMs) };
  });
  const basis = {
    inputs,
    model: o.model.sha256,
    format,
    ...(compression !== null ? { compression } : {}),
    columns: o.columns ?? null,
    mapping: o.mapping ?? null,
    textColumn: o.textColumn ?? null,
    ...(o.classifier ? { task: "classify", classes: o.classifier.labels } : {}),
    ...(o.truncate ? { truncate: true } : {}),
    keyColumns: o.keyColumns ?? [],
    outputs: o.outputs ?? null,
    labels: o.model.labels ?? null,
    batchSize,
    source: o.source ?? null,
  };
  return { key: createHash("sha256").update(JSON.stringify(basis)).digest("hex"), basis, inputs };
}

/** A model call in flight, in input order. */
interface InFlight {
  /**
   * `tooLong`: texts the text model refused (over its token limit, invalid Unicode), as rejects + their row among
   * the kept rows. `columns`: a classifier's prediction columns, for the kept rows less the refused ones.
   */
  readonly run: Promise<{
    outputs: TensorMap | null;
    columns?: Map<string, Column> | null;
    inferMs: number;
    tooLong?: { kept: number; reject: RejectRecord }[];
  }> | null;
  readonly keys: RecordBatch;
  readonly kept: number;
  readonly inputRows: number;
  readonly rejects: RejectRecord[];
  readonly end: Cursor;
  /** Input file of the rows. */
  readonly file: string;
}

/**
 * Scores the inputs into `options.output`. See the module comment for the file layout. A fresh run that fails
 * before committing any part (a missing column, a model that does not fit, an unreadable file) removes the
 * `<output>.parts/` folder it made, so the corrected command can be run as is; a bad row (`E_PIPELINE_BAD_ROW`)
 * or an interruption keeps it for `--resume`.
 */
export async function scoreFiles(options: ScoreOptions): Promise<ScoreSummary> {
  const partsDir = `${path.resolve(options.output)}.parts`;
  const lock: RunLock = { token: `${process.pid}:${randomUUID()}`, held: false };
  // aborted when the run ends: a failed or interrupted run stops hashing its inputs for a manifest it never writes
  // (the CLI would otherwise wait for every input to be read before exiting)
  const ended = new AbortController();
  try {
    return await scoreFilesInner(options, lock, ended.signal);
  } catch (e) {
    // a folder this run did not lock is not its own: an earlier run's, or a live run's (this one was refused, or
    // failed before reaching the lock); only a folder this run started, and committed nothing to, is removed
    const keep =
      !lock.held ||
      options.resume ||
      (e instanceof PipelineError && (e.code === "E_PIPELINE_BAD_ROW" || e.facts.aborted === true));
    if (!keep) {
      try {
        const ckpt = JSON.parse(
          fs.readFileSync(path.join(partsDir, "checkpoint.json"), "utf8"),
        ) as Checkpoint;
        if (ckpt.parts.length === 0) fs.rmSync(partsDir, { recursive: true, force: true });
      } catch {
        // no checkpoint: nothing was started here
      }
    }
    throw e;
  } finally {
    ended.abort();
    if (lock.held) releaseLock(partsDir, lock);
  }
}

/** The run that holds `<output>.parts/` (a process on this host, or another host's). */
interface LockHolder {
  readonly token: string;
  readonly pid: number;
  readonly host: string;
  readonly startedAt: string;
}

function lockPath(partsDir: string): string {
  return path.join(partsDir, "lock.json");
}

function readLock(partsDir: string): LockHolder | null {
  try {
    return JSON.parse(fs.readFileSync(lockPath(partsDir), "utf8")) as LockHolder;
  } catch {
    return null;
  }
}

/** Lock tokens held by runs in this process (a lock with this process's pid is stale unless listed here). */
const HELD_LOCKS = new Set<string>();
/** A running scorer touches its lock this often; another host's lock untouched for `LOCK_STALE_MS` is stale. */
const LOCK_HEARTBEAT_MS = 15_000;
const LOCK_STALE_MS = 120_000;

/**
 * Throws `E_PIPELINE_OUTPUT_EXISTS` (facts `locked: true`) when a live run holds the parts folder: on this host,
 * its process exists (a pid reused by this very process, as PID 1 in a restarted container, does not count); on
 * another host (a shared file system), it touched the lock within the last two minutes.
 */
function assertUnlocked(partsDir: string, output: string): void {
  const held = readLock(partsDir);
  if (held === null) return;
  const here = held.host === os.hostname();
  let alive: boolean;
  let ageMs = 0;
  if (!here) {
    try {
      ageMs = Date.now() - fs.statSync(lockPath(partsDir)).mtimeMs;
    } catch {
      return;
    }
    alive = ageMs < LOCK_STALE_MS;
  } else if (held.pid === process.pid) alive = HELD_LOCKS.has(held.token);
  else {
    try {
      process.kill(held.pid, 0);
      alive = true;
    } catch (e) {
      alive = (e as NodeJS.ErrnoException).code === "EPERM";
    }
  }
  if (!alive) return; // a crashed run's lock
  throw new PipelineError(
    "E_PIPELINE_OUTPUT_EXISTS",
    `${output} is being written by another tessera score (pid ${held.pid}${here ? "" : ` on ${held.host}, seen ${Math.round(ageMs / 1000)} s ago`}, since ${held.startedAt}); wait for it to finish (if that process is not a tessera run, as when its pid was reused, remove ${lockPath(partsDir)})`,
    { output, locked: true, pid: held.pid, host: held.host },
  );
}

/**
 * Takes the parts folder for this run: the lock file is created exclusively (a live run's lock refuses it, as
 * `assertUnlocked` does; a crashed run's is replaced) and touched every `LOCK_HEARTBEAT_MS`.
 */
function takeLock(partsDir: string, output: string, lock: RunLock): void {
  const mine: LockHolder = {
    token: lock.token,
    pid: process.pid,
    host: os.hostname(),
    startedAt: new Date().toISOString(),
  };
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(lockPath(partsDir), JSON.stringify(mine), { flag: "wx" });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      assertUnlocked(partsDir, output); // another run got in between (refused by name), or a crashed run's lock
      if (attempt > 0) throw e;
      fs.rmSync(lockPath(partsDir), { force: true });
    }
  }
  HELD_LOCKS.add(lock.token);
  lock.held = true;
  lock.heartbeat = setInterval(() => {
    const now = new Date();
    try {
      fs.utimesSync(lockPath(partsDir), now, now);
    } catch {
      // the folder was merged away
    }
  }, LOCK_HEARTBEAT_MS);
  lock.heartbeat.unref();
}

function releaseLock(partsDir: string, lock: RunLock): void {
  if (lock.heartbeat) clearInterval(lock.heartbeat);
  HELD_LOCKS.delete(lock.token);
  if (readLock(partsDir)?.token === lock.token) fs.rmSync(lockPath(partsDir), { force: true });
}

/** This run's hold on `<output>.parts/`. */
interface RunLock {
  readonly token: string;
  held: boolean;
  heartbeat?: ReturnType<typeof setInterval>;
}

async function scoreFilesInner(
  options: ScoreOptions,
  lock: RunLock,
  ended: AbortSignal,
): Promise<ScoreSummary> {
  const t0 = performance.now();
  const output = path.resolve(options.output);
  // an explicit outputFormat takes any name (a .gz suffix still compresses it)
  const kind: FileKind = options.outputFormat
    ? { format: options.outputFormat, compression: /\.gz(ip)?$/i.test(output) ? "gzip" : null }
    : fileKindOf(output, "output");
  const format = kind.format;
  // gzip output: each part is compressed into its own gzip member when committed, so the merged file is the
  // members one after another (a multi-member gzip file, read whole by gunzip, zcat, Python, pandas, Spark)
  const compression: Compression = kind.compression;
  if (compression !== null && format !== "csv" && format !== "jsonl") {
    throw new PipelineError(
      "E_PIPELINE_COMPRESSION",
      `${output}: gzip output is written for CSV/TSV/JSONL only, not ${format}`,
      { file: output, compression, format },
    );
  }
  const textSink = {
    header: false,
    ...(kind.delimiter !== undefined ? { delimiter: kind.delimiter } : {}),
    ...(compression === "gzip" ? { gzip: true } : {}),
  };
  const partExt = `${EXT[format]}${compression === "gzip" ? ".gz" : ""}`;
  const partsDir = `${output}.parts`;
  const ckptPath = path.join(partsDir, "checkpoint.json");
  const manifestPath = `${output}.manifest.json`;
  const rejectsPath = `${output}.rejects.jsonl`;
  // a model exported with a fixed batch of 1 (static shapes) is fed one row per call
  const fixedBatch = options.session ? fixedBatchOf(options.session) : null;
  const batchSize = fixedBatch === 1 ? 1 : (options.batchSize ?? 4096);
  const partRows = options.partRows ?? 262144;
  const onError = options.onError ?? "fail";
  const keyColumns = options.keyColumns ?? [];
  if ([options.session, options.embedder, options.classifier].filter((m) => m !== undefined).length !== 1) {
    throw new PipelineError(
      "E_PIPELINE_FEATURES",
      "give exactly one of `session` (numeric model), `embedder` or `classifier` (text models)",
      {},
    );
  }
  if ((options.embedder || options.classifier) && !options.textColumn) {
    throw new PipelineError(
      "E_PIPELINE_TEXT",
      `${options.embedder ? "an embedder" : "a classifier"} needs \`textColumn\``,
      {},
    );
  }
  if (options.textColumn && options.session) {
    throw new PipelineError(
      "E_PIPELINE_TEXT",
      `text column "${options.textColumn}" needs a text embedder or classifier (a Hugging Face text model)`,
      {
        column: options.textColumn,
      },
    );
  }
  const classLabels = options.classifier ? classifierLabels(options.model.name, options.classifier) : null;
  const classifierFields = classLabels ? classifierOutputs(classLabels, options.outputs) : null;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new PipelineError("E_PIPELINE_FEATURES", `batchSize must be a positive integer, got ${batchSize}`, {
      batchSize,
    });
  }
  if (options.inputs.length === 0) throw new PipelineError("E_PIPELINE_NO_INPUT", "no input files", {});
  const real = (p: string) => {
    try {
      return fs.realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  const clobbered = options.inputs.find((i) =>
    [output, manifestPath, rejectsPath].some((o) => real(o) === real(i)),
  );
  if (clobbered !== undefined) {
    throw new PipelineError(
      "E_PIPELINE_OUTPUT_EXISTS",
      `input ${clobbered} would be overwritten by the output ${output} (or its manifest/rejects file); write the predictions to another file`,
      { output, input: clobbered },
    );
  }
  if (fs.existsSync(output) && fs.statSync(output).isDirectory()) {
    throw new PipelineError("E_PIPELINE_OUTPUT_EXISTS", `${output} is a directory; --output names a file`, {
      output,
    });
  }
  // "label" / "label_index" in `outputs` are the argmax columns, not model outputs
  const labelOutputs = (options.outputs ?? []).filter((o) => o === "label" || o === "label_index");
  // label columns are known once the first result shows which output they come from (checked there too)
  checkNameClash(
    keyColumns,
    options.session
      ? (options.outputs ?? options.session.description.outputs.map((o) => o.name))
      : classifierFields
        ? classifierFields.map((f) => f.name)
        : ["embedding"],
  );
  const fp = fingerprintOf(options, format, batchSize, compression);

  // ---- start or resume
  let ckpt: Checkpoint;
  if (options.resume) {
    if (!fs.existsSync(ckptPath)) {
      if (fs.existsSync(output) && fs.existsSync(manifestPath)) {
        const m = JSON.parse(fs.readFileSync(manifestPath, "utf8")) as {
          rows: { read: number; scored: number; rejected: number };
          parts: number;
        };
        return {
          output,
          manifest: manifestPath,
          rejects: fs.existsSync(rejectsPath) ? rejectsPath : null,
          rowsRead: m.rows.read,
          rowsScored: m.rows.scored,
          rowsRejected: m.rows.rejected,
          parts: m.parts,
          seconds: 0,
          alreadyComplete: true,
        };
      }
      throw new PipelineError("E_PIPELINE_RESUME", `nothing to resume: ${ckptPath} does not exist`, {
        checkpoint: ckptPath,
      });
    }
    ckpt = JSON.parse(fs.readFileSync(ckptPath, "utf8")) as Checkpoint;
    if (ckpt.fingerprint !== fp.key) {
      const changes = ckpt.basis ? basisChanges(ckpt.basis, fp.basis) : [];
      throw new PipelineError(
        "E_PIPELINE_RESUME",
        `${ckptPath} was written for another run: ${changes.length > 0 ? changes.join("; ") : "other inputs, model or options (inputs changed size or time, or a flag differs)"}; rerun the original command with --resume, or start over with --overwrite`,
        { checkpoint: ckptPath, changes },
      );
    }
    takeLock(partsDir, output, lock); // refused when a live run holds it
    // drop anything not recorded in the checkpoint (a part renamed just before a crash, tmp files)
    const keep = new Set([
      "checkpoint.json",
      "lock.json",
      ...ckpt.parts.flatMap((p) => [p.file, p.rejectsFile].filter((x): x is string => x !== null)),
    ]);
    for (const f of fs.readdirSync(partsDir))
      if (!keep.has(f)) fs.rmSync(path.join(partsDir, f), { force: true });
    ckpt.runs++;
  } else {
    if (fs.existsSync(output) && !options.overwrite) {
      throw new PipelineError(
        "E_PIPELINE_OUTPUT_EXISTS",
        `${output} exists; pass --overwrite to replace it`,
        { output },
      );
    }
    if (fs.existsSync(partsDir)) {
      if (!options.overwrite) {
        throw new PipelineError(
          "E_PIPELINE_OUTPUT_EXISTS",
          `${partsDir} holds an unfinished run; pass --resume to continue it or --overwrite to start over`,
          { output, parts: partsDir },
        );
      }
      assertUnlocked(partsDir, output);
      fs.rmSync(partsDir, { recursive: true, force: true });
    }
    fs.mkdirSync(partsDir, { recursive: true });
    takeLock(partsDir, output, lock);
    ckpt = {
      version: 1,
      fingerprint: fp.key,
      basis: fp.basis,
      format,
      fields: null,
      outputPlan: null,
      parts: [],
      cursor: { file: 0, rows: 0 },
      fileRows: options.inputs.map(() => 0),
      finished: false,
      runs: 1,
      timings: { readMs: 0, prepareMs: 0, inferMs: 0, writeMs: 0, mergeMs: 0, wallMs: 0 },
      startedAt: new Date().toISOString(),
    };
    writeFileAtomic(ckptPath, JSON.stringify(ckpt));
  }
  const timings = ckpt.timings;
  const wallBefore = timings.wallMs;
  // one file at a time, behind the scoring: hashing every input at once opened them all together (EMFILE past
  // the open-file limit, 1024 or macOS's 256, with a glob of many files)
  const hashes: Promise<string>[] = [];
  let hashed: Promise<unknown> = Promise.resolve();
  for (const f of options.inputs) {
    const h = hashed.then(() => hashFile(f, ended));
    h.catch(() => undefined);
    hashes.push(h);
    hashed = h.catch(() => undefined);
  }

  let totals = ckpt.parts.reduce(
    (t, p) => ({
      read: t.read + p.rowsRead,
      scored: t.scored + p.rowsScored,
      rejected: t.rejected + p.rowsRejected,
    }),
    { read: 0, scored: 0, rejected: 0 },
  );

  // ---- progress
  const sources: Source[] = [];
  for (const f of options.inputs)
    sources.push(
      await openSource(f, {
        ...options.source,
        columns: neededColumns(options),
        // key codes keep their leading zeros; zero-padded features ("05") are numbers
        leadingZeroText: keyColumns,
        // named feature columns are numbers even when the first chunk holds many bad values or only nulls (the
        // bad values are bad rows); the text model's column is text even when its values look like numbers
        ...(options.session && (options.columns || options.mapping)
          ? { numericColumns: options.columns ?? Object.values(options.mapping ?? {}).flat() }
          : {}),
        ...(options.textColumn ? { textColumns: [options.textColumn] } : {}),
      }),
    );
  const totalRows = sources.every((s) => s.totalRows !== null)
    ? sources.reduce((a, s) => a + s.totalRows!, 0)
    : null;
  const totalBytes = sources.reduce((a, s) => a + s.sizeBytes, 0);
  const progress =
    options.progress === false ? null : new ProgressReporter({ ...options.progress, totalRows, totalBytes });
  let bytesDone = sources.slice(0, ckpt.cursor.file).reduce((a, s) => a + s.sizeBytes, 0);
  let bytesCurrent = 0;
  // a gzip input's cursor counts decompressed bytes, which are not positions in the file: progress counts it from 0
  const fileByte = (s: Source | undefined, c: SourceCursor) => (s?.compression ? 0 : (c.byte ?? 0));
  progress?.setBaseline(totals.read, bytesDone + fileByte(sources[ckpt.cursor.file], ckpt.cursor));
  const state = (): ProgressState => ({
    rowsRead: totals.read + part.rowsRead,
    rowsScored: totals.scored + part.rowsScored,
    rowsRejected: totals.rejected + part.rowsRejected,
    bytesRead: bytesDone + bytesCurrent,
    partsWritten: ckpt.parts.length,
  });

  // ---- current part
  let part = newPart(ckpt.parts.length);
  function newPart(index: number) {
    return {
      index,
      sink: null as Sink | null,
      tmp: "",
      rowsRead: 0,
      rowsScored: 0,
      rowsRejected: 0,
      rejects: [] as string[],
      /** Rows read per input index in this part. */
      fileRows: new Map<number, number>(),
    };
  }
  const outFields = (): FieldSpec[] => ckpt.fields ?? [];
  async function writeResult(
    item: InFlight,
    outputs: TensorMap | null,
    textColumns: Map<string, Column> | null,
  ): Promise<void> {
    const tw = performance.now();
    if ((outputs !== null || textColumns !== null) && item.kept > 0) {
      if (ckpt.outputPlan === null && classifierFields !== null) {
        ckpt.outputPlan = { fields: classifierFields, labelsFrom: null };
        ckpt.fields = [...schemaOf(item.keys), ...classifierFields];
      }
      if (ckpt.outputPlan === null && outputs !== null) {
        let plan = planOutputs(outputs, outputNames(outputs), options.model.labels);
        if (labelOutputs.length > 0) {
          // --outputs named label/label_index: every output was run (the label's source is picked by width);
          // keep only the requested columns
          if (plan.labelsFrom === null) {
            throw new PipelineError(
              "E_PIPELINE_OUTPUT",
              `--outputs ${labelOutputs.join(",")} needs class labels whose count matches an output (labels: ${options.model.labels?.length ?? "none"})`,
              { outputs: [...(options.outputs ?? [])] },
            );
          }
          const keep = new Set(options.outputs);
          plan = { ...plan, fields: plan.fields.filter((f) => keep.has(f.name)) };
        }
        checkNameClash(
          keyColumns,
          plan.fields.map((f) => f.name),
        );
        ckpt.outputPlan = plan;
        ckpt.fields = [...schemaOf(item.keys), ...plan.fields];
      }
      const outputPlan = ckpt.outputPlan!;
      if (part.sink === null) {
        part.tmp = path.join(partsDir, `${partName(part.index)}.${partExt}.tmp`);
        part.sink = await openSink(part.tmp, format, outFields(), textSink);
      }
      const cols = new Map<string, Column>();
      for (const [k, c] of item.keys.columns) cols.set(k, keyAs(c, ckpt.fields!, k, item.file));
      if (textColumns !== null) {
        for (const f of outputPlan.fields) cols.set(f.name, textColumns.get(f.name)!);
      } else if (outputs !== null) {
        for (const [k, v] of outputColumns(outputs, outputPlan, item.kept, options.model.labels))
          cols.set(k, v);
      }
      await part.sink.write({ numRows: item.kept, columns: cols });
    }
    part.rowsRead += item.inputRows;
    part.fileRows.set(item.end.file, (part.fileRows.get(item.end.file) ?? 0) + item.inputRows);
    part.rowsScored += item.kept;
    part.rowsRejected += item.rejects.length;
    for (const r of item.rejects) part.rejects.push(JSON.stringify(r));
    timings.writeMs += performance.now() - tw;
  }
  async function commitPart(cursor: Cursor): Promise<void> {
    if (part.rowsRead === 0) return;
    const tw = performance.now();
    const name = partName(part.index);
    let file: string | null = null;
    let bytes = 0;
    let rejectsFile: string | null = null;
    if (part.rejects.length > 0) {
      rejectsFile = `${name}.rejects.jsonl`;
      const tmp = path.join(partsDir, `${rejectsFile}.tmp`);
      fs.writeFileSync(tmp, part.rejects.join("\n") + "\n");
      fsyncPath(tmp);
      commitFile(tmp, path.join(partsDir, rejectsFile));
    }
    if (part.sink !== null) {
      bytes = await part.sink.close();
      file = `${name}.${partExt}`;
      commitFile(part.tmp, path.join(partsDir, file));
    }
    ckpt.parts.push({
      index: part.index,
      file,
      rejectsFile,
      rowsRead: part.rowsRead,
      rowsScored: part.rowsScored,
      rowsRejected: part.rowsRejected,
      bytes,
      cursor,
    });
    ckpt.cursor = cursor;
    ckpt.keysSeen = [...keysSeen];
    ckpt.keysAbsent = [...keysAbsent];
    if (ckpt.fileRows !== undefined)
      for (const [file, n] of part.fileRows) ckpt.fileRows[file] = (ckpt.fileRows[file] ?? 0) + n;
    totals = {
      read: totals.read + part.rowsRead,
      scored: totals.scored + part.rowsScored,
      rejected: totals.rejected + part.rowsRejected,
    };
    timings.writeMs += performance.now() - tw;
    timings.wallMs = wallBefore + (performance.now() - t0);
    writeFileAtomic(ckptPath, JSON.stringify(ckpt));
    part = newPart(part.index + 1);
  }

  // ---- scoring loop
  let plans: InputPlan[] | null = null;
  // a JSONL key some objects lack is a sparse column; one that no row has is a misspelt --columns name
  const keysSeen = new Set<string>(ckpt.keysSeen ?? []);
  const keysAbsent = new Set<string>(ckpt.keysAbsent ?? []);
  // a checkpoint of an older version, with parts, does not say which keys its rows had
  const keysKnown = ckpt.parts.length === 0 || ckpt.keysSeen !== undefined;
  const neverSeen = () => (keysKnown ? [...keysAbsent].filter((k) => !keysSeen.has(k)) : []);
  const queue: InFlight[] = [];
  const inFlight = Math.max(1, options.inFlight ?? (options.session ? options.session.replicas * 2 : 2));
  let lastEnd: Cursor = ckpt.cursor;

  async function completeOldest(): Promise<void> {
    let item = queue.shift()!;
    let outputs: TensorMap | null = null;
    let textColumns: Map<string, Column> | null = null;
    if (item.run) {
      const r = await item.run;
      timings.inferMs += r.inferMs;
      outputs = r.outputs;
      textColumns = r.columns ?? null;
      const tooLong = r.tooLong ?? [];
      if (tooLong.length > 0) {
        if (onError === "fail") {
          await commitPart(lastEnd); // the batches before this one
          throw badRowError(tooLong[0]!.reject, totals.read);
        }
        const keep = new Uint8Array(item.kept).fill(1);
        for (const t of tooLong) keep[t.kept] = 0;
        const kept = item.kept - tooLong.length;
        item = {
          ...item,
          keys: filterBatch(item.keys, keep, kept),
          kept,
          rejects: [...item.rejects, ...tooLong.map((t) => t.reject)].sort((a, b) => a.row - b.row),
        };
      }
    }
    await writeResult(item, outputs, textColumns);
    lastEnd = item.end;
    if (part.rowsRead >= partRows) await commitPart(item.end);
    progress?.update(state());
  }
  async function drain(): Promise<void> {
    while (queue.length > 0) await completeOldest();
  }
  function submit(
    batch: RecordBatch,
    keep: Uint8Array | null,
    kept: number,
    rejects: RejectRecord[],
    end: Cursor,
    reject: (b: BadRow) => RejectRecord,
  ): void {
    const tp = performance.now();
    let run: InFlight["run"] = null;
    if (kept > 0) {
      if (options.session) {
        const inputs: TensorMap = {};
        for (const plan of plans!)
          inputs[plan.input] = Tensor.wrap(buildFeatures(batch, plan, keep, kept), [kept, plan.width]);
        const runOptions: RunOptions & { transferInputs: boolean } = {
          transferInputs: true,
          outputs: labelOutputs.length > 0 ? undefined : options.outputs,
        };
        run = options.session
          .run(inputs, runOptions)
          .then((r) => ({ outputs: r.outputs, inferMs: r.inferMs }));
      } else {
        const textCol = batch.columns.get(options.textColumn!)!;
        const texts: string[] = [];
        const rows: number[] = [];
        for (let i = 0; i < batch.numRows; i++) {
          if (keep !== null && keep[i] === 0) continue;
          texts.push(textCol.values[i] as string);
          rows.push(i);
        }
        const ts = performance.now();
        const truncate = options.truncate ?? false;
        const refused = (tooLong: { index: number; reason: string }[]) =>
          tooLong.map((t) => ({
            kept: t.index,
            reject: reject({ index: rows[t.index]!, column: options.textColumn!, reason: t.reason }),
          }));
        if (options.classifier) {
          const clf = options.classifier;
          run = withinTokenLimit(texts, (t) => clf.classify(t, { truncate })).then((r) => ({
            outputs: null,
            columns:
              r.results.length === 0
                ? null
                : classifierColumns(r.results.flat(), classLabels!, classifierFields!),
            inferMs: performance.now() - ts,
            tooLong: refused(r.tooLong),
          }));
        } else {
          const embedder = options.embedder!;
          run = withinTokenLimit(texts, (t) => embedder.embed(t, { truncate })).then((r) => ({
            outputs:
              r.results.length === 0
                ? null
                : {
                    embedding:
                      r.results.length === 1 ? r.results[0]! : (concat(r.results) as Tensor<"float32">),
                  },
            inferMs: performance.now() - ts,
            tooLong: refused(r.tooLong),
          }));
        }
      }
      run.catch(() => undefined); // surfaced when awaited in order
    }
    const keyBatch: RecordBatch = {
      numRows: batch.numRows,
      columns: new Map(keyColumns.map((k) => [k, batch.columns.get(k)!])),
    };
    const keys = keep === null ? keyBatch : filterBatch(keyBatch, keep, kept);
    queue.push({ run, keys, kept, inputRows: batch.numRows, rejects, end, file: sources[end.file]!.path });
    timings.prepareMs += performance.now() - tp;
  }

  try {
    if (!ckpt.finished) {
      for (let fi = ckpt.cursor.file; fi < sources.length; fi++) {
        const source = sources[fi]!;
        const from: SourceCursor = fi === ckpt.cursor.file ? ckpt.cursor : { rows: 0 };
        bytesCurrent = fileByte(source, from);
        const iter = rebatch(source.chunks(from), batchSize)[Symbol.asyncIterator]();
        try {
          for (;;) {
            if (options.signal?.aborted) {
              await drain();
              await commitPart(lastEnd);
              throw new PipelineError(
                "E_PIPELINE_RESUME",
                "scoring was interrupted; rerun with --resume to continue",
                { aborted: true },
              );
            }
            const tr = performance.now();
            const next = await iter.next();
            timings.readMs += performance.now() - tr;
            if (next.done) break;
            const slice = next.value;
            bytesCurrent = slice.bytesRead;
            const batch = slice.batch;
            const missingKeys = keyColumns.filter((k) => !batch.columns.has(k));
            if (missingKeys.length > 0) {
              throw new PipelineError(
                "E_PIPELINE_MISSING_COLUMN",
                `${source.path}: key column(s) ${missingKeys.map((k) => `"${k}"`).join(", ")} not in the input`,
                { file: source.path, missing: missingKeys, available: [...batch.columns.keys()] },
              );
            }
            if (plans === null && options.session) {
              plans = planInputs(options.session.description, schemaOf(batch), {
                mapping: options.mapping,
                columns: options.columns,
                exclude: keyColumns,
              });
            }
            const inputCols = options.session
              ? plans!.flatMap((p) => p.columns.map((c) => c.name))
              : [options.textColumn!];
            const { keep, kept, bad } = validate(batch, inputCols);
            noteKeys(batch, inputCols, keysSeen, keysAbsent);
            const rejects = bad.map((b) => rejectRecord(source.path, slice, batch, b, keyColumns));
            if (bad.length > 0 && onError === "fail") {
              const first = bad[0]!;
              // score and commit every row before the bad one, then stop
              if (first.index > 0) {
                const head = sliceBatch(batch, 0, first.index);
                submit(head, null, first.index, [], { file: fi, ...slice.cursorAt(first.index) }, (b) =>
                  rejectRecord(source.path, slice, batch, b, keyColumns),
                );
              }
              await drain();
              lastEnd = { file: fi, ...slice.cursorAt(first.index) };
              await commitPart(lastEnd);
              throw badRowError(
                rejects[0]!,
                totals.read,
                first.absent === true && !keysSeen.has(first.column!),
              );
            }
            submit(batch, keep, kept, rejects, { file: fi, ...slice.cursorAt(batch.numRows) }, (b) =>
              rejectRecord(source.path, slice, batch, b, keyColumns),
            );
            while (queue.length >= inFlight) await completeOldest();
          }
        } finally {
          await iter.return?.(undefined); // closes the file when we stop early
        }
        await drain();
        const endCursor: Cursor = { file: fi + 1, rows: 0 };
        lastEnd = endCursor;
        bytesDone += source.sizeBytes;
        bytesCurrent = 0;
        if (fi === sources.length - 1 || part.rowsRead >= partRows) await commitPart(endCursor);
        else if (part.rowsRead === 0) ckpt.cursor = endCursor;
      }
      await drain();
      const never = neverSeen();
      if (never.length > 0 && onError === "skip") {
        // every row was rejected for a key that no row has: a misspelt name, not bad data; nothing to resume
        fs.rmSync(partsDir, { recursive: true, force: true });
        throw new PipelineError(
          "E_PIPELINE_MISSING_COLUMN",
          `no row of the input has the key(s) ${never.map((k) => `"${k}"`).join(", ")} (every row was rejected for it); check the name in ${options.textColumn ? "--text-column" : "--columns"}`,
          { missing: never, rowsRejected: totals.rejected + part.rowsRejected },
        );
      }
      await commitPart(lastEnd);
      ckpt.finished = true;
      writeFileAtomic(ckptPath, JSON.stringify(ckpt));
    }
  } finally {
    // a failure leaves the uncommitted part's tmp file behind; resume deletes it
    await Promise.allSettled(queue.map((q) => q.run));
    if (part.sink !== null && !ckpt.finished) await part.sink.close().catch(() => undefined);
  }
  progress?.update(state(), true);

  // ---- merge parts → output, rejects, manifest
  const tm = performance.now();
  await mergeParts(ckpt, partsDir, output, format, { compression, delimiter: kind.delimiter });
  const rejectFiles = ckpt.parts.filter((p) => p.rejectsFile !== null);
  if (rejectFiles.length > 0) {
    const tmp = `${rejectsPath}.tmp`;
    const fd = fs.openSync(tmp, "w");
    for (const p of rejectFiles) fs.writeSync(fd, fs.readFileSync(path.join(partsDir, p.rejectsFile!)));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    commitFile(tmp, rejectsPath);
  } else fs.rmSync(rejectsPath, { force: true });
  timings.mergeMs += performance.now() - tm;
  timings.wallMs = wallBefore + (performance.now() - t0);

  const inputsInfo = await Promise.all(
    fp.inputs.map(async (f, i) => ({
      path: f.path,
      bytes: f.size,
      sha256: await hashes[i]!,
      // rows read from the file (null after resuming a checkpoint of an older version, which did not count them)
      rows: ckpt.fileRows ? (ckpt.fileRows[i] ?? 0) : null,
    })),
  );
  const manifest = {
    tessera: { version: tesseraVersion() },
    model: {
      name: options.model.name,
      version: options.model.version,
      sha256: options.model.sha256,
      path: options.model.path ?? null,
      // a classifier's labels, in the order of the `scores` vector column
      ...(classLabels ? { task: "classifier", labels: classLabels } : {}),
    },
    inputs: inputsInfo,
    output: {
      path: output,
      format,
      ...(compression !== null ? { compression } : {}),
      fields: ckpt.fields ?? [],
      bytes: fs.statSync(output).size,
    },
    rejects: rejectFiles.length > 0 ? rejectsPath : null,
    options: {
      columns: options.columns ?? plans?.flatMap((p) => p.columns.map((c) => c.name)) ?? null,
      mapping: options.mapping ?? null,
      textColumn: options.textColumn ?? null,
      truncate: options.truncate ?? false,
      keyColumns,
      outputs: options.outputs ?? null,
      batchSize,
      partRows,
      inFlight,
      onError,
    },
    seed: options.seed ?? 0,
    rows: { read: totals.read, scored: totals.scored, rejected: totals.rejected },
    parts: ckpt.parts.length,
    runs: ckpt.runs,
    startedAt: ckpt.startedAt,
    finishedAt: new Date().toISOString(),
    timings: Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Math.round(v)])),
  };
  writeFileAtomic(manifestPath, JSON.stringify(manifest, null, 2) + "\n");
  if (!options.keepParts) fs.rmSync(partsDir, { recursive: true, force: true });
  const summary: ScoreSummary = {
    output,
    manifest: manifestPath,
    rejects: manifest.rejects,
    rowsRead: totals.read,
    rowsScored: totals.scored,
    rowsRejected: totals.rejected,
    parts: ckpt.parts.length,
    seconds: (performance.now() - t0) / 1000,
  };
  progress?.finish({ ...summary });
  return summary;
}

const BASIS_NAMES: Record<string, string> = {
  model: "the model (sha256)",
  format: "the output format",
  columns: "--columns",
  mapping: "the column mapping",
  textColumn: "--text-column",
  truncate: "--truncate",
  task: "the model's task",
  classes: "the classifier's labels",
  keyColumns: "--key-columns",
  outputs: "--outputs",
  labels: "the labels",
  batchSize: "--batch-size",
  source: "the CSV/JSONL reading options",
};

/** What differs between the checkpoint's fingerprint basis and this run's, in words. */
function basisChanges(was: Record<string, unknown>, now: Record<string, unknown>): string[] {
  const show = (v: unknown) => {
    const t = JSON.stringify(v) ?? "none";
    return t.length > 60 ? `${t.slice(0, 57)}...` : t;
  };
  const out: string[] = [];
  for (const key of new Set([...Object.keys(was), ...Object.keys(now)])) {
    const a = was[key];
    const b = now[key];
    if (JSON.stringify(a) === JSON.stringify(b)) continue;
    if (key === "inputs" && Array.isArray(a) && Array.isArray(b)) {
      type In = { path: string; size: number; mtimeMs: number };
      const before = new Map((a as In[]).map((f) => [f.path, f]));
      const after = new Map((b as In[]).map((f) => [f.path, f]));
      const found = out.length;
      for (const [p, f] of after) {
        const old = before.get(p);
        if (!old) out.push(`input ${p} is new`);
        else if (old.size !== f.size) out.push(`input ${p} changed size (${old.size} → ${f.size} bytes)`);
        else if (old.mtimeMs !== f.mtimeMs) out.push(`input ${p} was modified`);
      }
      for (const p of before.keys()) if (!after.has(p)) out.push(`input ${p} is no longer given`);
      if (out.length === found) out.push("the input files are in another order");
      continue;
    }
    out.push(`${BASIS_NAMES[key] ?? key} changed (${show(a)} → ${show(b)})`);
  }
  return out;
}

/**
 * The fixed batch dimension of the model's inputs (a number as their first dim), or null when it is symbolic.
 * Throws for a fixed batch over 1: the last batch of a file and batches with rejected rows are smaller.
 */
function fixedBatchOf(session: InferenceSession): number | null {
  const fixed = session.description.inputs
    .map((i) => ({ name: i.name, dim: i.shape[0] }))
    .filter((d): d is { name: string; dim: number } => typeof d.dim === "number");
  const over = fixed.find((d) => d.dim !== 1);
  if (over) {
    throw new PipelineError(
      "E_PIPELINE_FEATURES",
      `model input "${over.name}" has a fixed batch dimension of ${over.dim}; scoring needs a symbolic batch dimension (or a fixed 1): re-export the model with a dynamic batch axis`,
      { input: over.name, batch: over.dim },
    );
  }
  return fixed.length > 0 ? 1 : null;
}

/** Key columns and prediction columns share the output's namespace: refuse a clash instead of writing one over the other. */
function checkNameClash(keys: readonly string[], predictions: readonly string[]): void {
  const clash = keys.filter((k) => predictions.includes(k));
  if (clash.length > 0) {
    throw new PipelineError(
      "E_PIPELINE_OUTPUT",
      `key column(s) ${clash.map((c) => `"${c}"`).join(", ")} would have the same name as the model's prediction column(s) (${predictions.join(", ")}); drop them from --key-columns or pick other outputs with --outputs`,
      { clash, predictions: [...predictions] },
    );
  }
}

/**
 * A key column in the kind the output fixed from the first input (inputs can disagree, e.g. CSV files whose ids
 * infer as text in one and numbers in another): anything becomes text; integers and floats convert when exact.
 * Otherwise `E_PIPELINE_SCHEMA` names the file and the column.
 */
function keyAs(col: Column, fields: readonly FieldSpec[], name: string, file: string): Column {
  const want = fields.find((f) => f.name === name);
  if (!want || want.kind === col.kind) return col;
  const n = col.length;
  const fail = (why: string) =>
    new PipelineError(
      "E_PIPELINE_SCHEMA",
      `${file}: key column "${name}" is ${col.kind} here but ${want.kind} in the output (fixed by the first input)${why}; score such files separately or give key columns one type`,
      { file, column: name, kind: col.kind, expected: want.kind },
    );
  if (want.kind === "utf8") {
    const values: string[] = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      const v = cellValue(col, i);
      values[i] = v === null ? "" : Array.isArray(v) ? JSON.stringify(v) : String(v);
    }
    return { kind: "utf8", length: n, valid: col.valid, values };
  }
  const numeric =
    col.kind === "float32" || col.kind === "float64" || col.kind === "int32" || col.kind === "int64";
  if (!numeric || want.kind === "bool" || want.kind === "vector") throw fail("");
  const src = col.values as ArrayLike<number | bigint>;
  const at = (i: number) => (col.valid !== null && col.valid[i] === 0 ? 0 : src[i]!);
  if (want.kind === "int64") {
    const values = new BigInt64Array(n);
    for (let i = 0; i < n; i++) {
      const v = at(i);
      if (typeof v === "number" && !Number.isInteger(v)) throw fail(` (row value ${v} is not an integer)`);
      values[i] = BigInt(v);
      if (values[i] !== BigInt(v)) throw fail(` (value ${v} does not fit in int64)`);
    }
    return { kind: "int64", length: n, valid: col.valid, values };
  }
  const values =
    want.kind === "float64"
      ? new Float64Array(n)
      : want.kind === "float32"
        ? new Float32Array(n)
        : new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const src = at(i);
    const v = Number(src);
    values[i] = v;
    // an int64 past 2^53 rounds in Number(): compare with the source value, not the rounded one
    const exact = typeof src === "bigint" ? BigInt(values[i]!) === src : values[i] === v || Number.isNaN(v);
    if (!exact) throw fail(` (value ${String(src)} does not fit)`);
  }
  return { kind: want.kind, length: n, valid: col.valid, values } as Column;
}

/**
 * The stop for a bad row. `unseenKey`: the row lacks a JSONL key that no row so far had, so the likely cause is
 * a misspelt name, which `--on-error skip` would only turn into a rejects file of every row.
 */
function badRowError(r: RejectRecord, committedRows: number, unseenKey = false): PipelineError {
  const advice = unseenKey
    ? `no row so far has a "${r.column}" key: check its spelling; if only some rows have it, use --on-error skip to write the others to a rejects file`
    : "use --on-error skip to write bad rows to a rejects file, then --resume";
  return new PipelineError(
    "E_PIPELINE_BAD_ROW",
    `${r.file}: row ${r.row}${r.line !== undefined ? ` (line ${r.line})` : ""}${r.column !== null ? `, column "${r.column}"` : ""}: ${r.reason}; ${committedRows} rows before it are committed (${advice})`,
    {
      file: r.file,
      row: r.row,
      line: r.line ?? null,
      column: r.column,
      reason: r.reason,
      committedRows,
    },
  );
}

/**
 * Runs `call` (an embedder's or classifier's) on `texts`; a text over the model's token limit (E_TEXT_TOO_LONG,
 * when `truncate` is off) or one that is not valid Unicode (E_TEXT_INPUT: an unpaired surrogate, from a JSONL
 * "\ud800" escape) is left out and returned in `tooLong` with its index and the reason. The model stops at the
 * first such text, so the texts before it are run on their own and the call goes on after it: each text is
 * tokenized at most twice, however many are too long (retrying the whole rest after each one was quadratic in a
 * batch with many long texts). `results` holds the calls' results in order (the texts less the refused ones).
 */
async function withinTokenLimit<T>(
  texts: readonly string[],
  call: (texts: readonly string[]) => Promise<T>,
): Promise<{ results: T[]; tooLong: { index: number; reason: string }[] }> {
  const tooLong: { index: number; reason: string }[] = [];
  const results: T[] = [];
  let from = 0;
  while (from < texts.length) {
    const rest = from === 0 ? texts : texts.slice(from);
    try {
      results.push(await call(rest));
      break;
    } catch (e) {
      if (!(e instanceof TesseraError) || (e.code !== "E_TEXT_TOO_LONG" && e.code !== "E_TEXT_INPUT"))
        throw e;
      const at = e.facts.index;
      if (typeof at !== "number" || !Number.isInteger(at) || at < 0 || at >= rest.length) throw e;
      if (at > 0) results.push(await call(rest.slice(0, at)));
      tooLong.push({
        index: from + at,
        reason:
          e.code === "E_TEXT_TOO_LONG"
            ? `${String(e.facts.tokens)} tokens, over the model's limit of ${String(e.facts.maxTokens)} (use --truncate to cut long texts)`
            : e.message.replace(/^input \d+: /, ""),
      });
      from += at + 1;
    }
  }
  return { results, tooLong };
}

/** The classifier's labels, checked: at least one, each named once (the `scores` column is indexed by them). */
function classifierLabels(model: string, clf: TextClassifierLike): readonly string[] {
  const labels = [...clf.labels];
  const seen = new Set<string>();
  const twice = labels.filter((l) => seen.size === seen.add(l).size);
  if (labels.length === 0 || twice.length > 0) {
    throw new PipelineError(
      "E_PIPELINE_TEXT",
      labels.length === 0
        ? `classifier ${model} has no labels`
        : `classifier ${model} names label(s) ${[...new Set(twice)].map((l) => JSON.stringify(l)).join(", ")} more than once (config.json id2label); each score column needs its own label`,
      { model, labels },
    );
  }
  return labels;
}

/** The classifier's output fields: `label`, `score`, `scores`, or those of them `outputs` names. */
function classifierOutputs(labels: readonly string[], outputs: readonly string[] | undefined): FieldSpec[] {
  const all: FieldSpec[] = [
    { name: "label", kind: "utf8" },
    { name: "score", kind: "float32" },
    { name: "scores", kind: "vector", size: labels.length },
  ];
  if (outputs === undefined) return all;
  const unknown = outputs.filter((o) => !(CLASSIFIER_COLUMNS as readonly string[]).includes(o));
  if (unknown.length > 0 || outputs.length === 0) {
    throw new PipelineError(
      "E_PIPELINE_OUTPUT",
      `--outputs ${unknown.join(",")}: a text classifier writes ${CLASSIFIER_COLUMNS.join(", ")}`,
      { outputs: [...outputs], available: [...CLASSIFIER_COLUMNS] },
    );
  }
  return all.filter((f) => outputs.includes(f.name));
}

/** One batch of classifier predictions (each best first) as the `fields` columns. */
function classifierColumns(
  preds: readonly (readonly LabelScoreLike[])[],
  labels: readonly string[],
  fields: readonly FieldSpec[],
): Map<string, Column> {
  const rows = preds.length;
  const k = labels.length;
  const at = new Map(labels.map((l, i) => [l, i]));
  const label: string[] = new Array<string>(rows);
  const score = new Float32Array(rows);
  const scores = new Float32Array(rows * k).fill(Number.NaN);
  let valid: Uint8Array | null = null;
  for (let r = 0; r < rows; r++) {
    const p = preds[r]!;
    for (const { label: l, score: s } of p) {
      const i = at.get(l);
      if (i === undefined) {
        throw new PipelineError(
          "E_PIPELINE_OUTPUT",
          `the classifier returned label "${l}", not one of its labels`,
          {
            label: l,
            labels: [...labels],
          },
        );
      }
      scores[r * k + i] = s;
    }
    const top = p[0];
    // a NaN score (a broken model) has no best label: null, as the numeric path's argmax
    if (top === undefined || p.some((x) => Number.isNaN(x.score))) {
      valid ??= new Uint8Array(rows).fill(1);
      valid[r] = 0;
      label[r] = "";
      score[r] = Number.NaN;
      continue;
    }
    label[r] = top.label;
    score[r] = top.score;
  }
  const all = new Map<string, Column>([
    ["label", { kind: "utf8", length: rows, valid, values: label }],
    ["score", { kind: "float32", length: rows, valid, values: score }],
    ["scores", { kind: "vector", size: k, length: rows, valid: null, values: scores }],
  ]);
  return new Map(fields.map((f) => [f.name, all.get(f.name)!]));
}

function neededColumns(o: ScoreOptions): string[] | undefined {
  if (o.textColumn) return [...new Set([...(o.keyColumns ?? []), o.textColumn])];
  if (o.mapping) return [...new Set([...(o.keyColumns ?? []), ...Object.values(o.mapping).flat()])];
  if (o.columns) return [...new Set([...(o.keyColumns ?? []), ...o.columns])];
  return undefined;
}

function outputNames(outputs: TensorMap): string[] {
  return Object.keys(outputs);
}

interface BadRow {
  readonly index: number;
  readonly column: string | null;
  readonly reason: string;
  readonly line?: number;
  /** The JSONL object has no such key. */
  readonly absent?: boolean;
}

/** Rows to score (`keep`) and rows to reject with a reason: decode problems first, then nulls in input columns. */
function validate(
  batch: RecordBatch,
  inputCols: readonly string[],
): { keep: Uint8Array | null; kept: number; bad: BadRow[] } {
  const badByRow = new Map<number, BadRow>();
  for (const p of batch.problems ?? []) {
    if (p.lenient) continue;
    if (!badByRow.has(p.index) && (p.column === null || inputCols.includes(p.column)))
      badByRow.set(p.index, p);
  }
  for (const name of inputCols) {
    const c = batch.columns.get(name);
    if (!c) {
      throw new PipelineError("E_PIPELINE_MISSING_COLUMN", `input has no column "${name}"`, { column: name });
    }
    if (c.valid === null) continue;
    for (let i = 0; i < c.length; i++) {
      if (c.valid[i] === 0 && !badByRow.has(i))
        badByRow.set(i, { index: i, column: name, reason: "null value" });
    }
  }
  if (badByRow.size === 0) return { keep: null, kept: batch.numRows, bad: [] };
  const keep = new Uint8Array(batch.numRows).fill(1);
  for (const i of badByRow.keys()) keep[i] = 0;
  const bad = [...badByRow.values()].sort((a, b) => a.index - b.index);
  return { keep, kept: batch.numRows - bad.length, bad };
}

/** Records which input columns some row of `batch` has (`seen`) and which some JSONL object lacks (`absent`). */
function noteKeys(
  batch: RecordBatch,
  inputCols: readonly string[],
  seen: Set<string>,
  absent: Set<string>,
): void {
  const problems = batch.problems ?? [];
  const lacking = new Map<string, Set<number>>();
  for (const p of problems) {
    if (p.absent !== true || p.column === null) continue;
    let rows = lacking.get(p.column);
    if (rows === undefined) {
      rows = new Set();
      lacking.set(p.column, rows);
    }
    rows.add(p.index);
  }
  let malformed: Set<number> | null = null;
  for (const name of inputCols) {
    const rows = lacking.get(name);
    if (rows !== undefined) absent.add(name);
    if (seen.has(name)) continue;
    // a malformed row (invalid JSON) has no keys at all
    malformed ??= new Set(problems.filter((p) => p.column === null && !p.lenient).map((p) => p.index));
    for (let i = 0; i < batch.numRows; i++) {
      if (!rows?.has(i) && !malformed.has(i)) {
        seen.add(name);
        break;
      }
    }
  }
}

function rejectRecord(
  file: string,
  slice: Slice,
  batch: RecordBatch,
  b: BadRow,
  keyColumns: readonly string[],
): RejectRecord {
  const keys: Record<string, unknown> = {};
  for (const k of keyColumns) {
    const c = batch.columns.get(k);
    const v = c ? cellValue(c, b.index) : null;
    keys[k] = typeof v === "bigint" ? v.toString() : v;
  }
  const r: RejectRecord = {
    file,
    row: slice.firstRow + b.index + 1,
    column: b.column,
    reason: b.reason,
    keys,
  };
  // the source's line of the row when the problem itself has none (a null value, a text over the token limit)
  const line = b.line ?? batch.lines?.[b.index];
  return line !== undefined ? { ...r, line } : r;
}

/**
 * Writes the parts, in order, into `output` (tmp + fsync + rename). Text formats are concatenated byte for byte
 * (gzip parts are whole members: the CSV header goes first as a member of its own).
 */
async function mergeParts(
  ckpt: Checkpoint,
  partsDir: string,
  output: string,
  format: FileFormat,
  text: { compression: Compression; delimiter: string | undefined },
): Promise<void> {
  const tmp = `${output}.tmp-${process.pid}`;
  const files = ckpt.parts.filter((p) => p.file !== null).map((p) => path.join(partsDir, p.file!));
  const fields = ckpt.fields ?? [];
  if (format === "csv" || format === "jsonl") {
    const fd = fs.openSync(tmp, "w");
    try {
      if (format === "csv") {
        const header = await openSink(`${tmp}.header`, "csv", fields, {
          header: true,
          ...(text.delimiter !== undefined ? { delimiter: text.delimiter } : {}),
        });
        await header.close();
        const bytes = fs.readFileSync(`${tmp}.header`);
        fs.writeSync(fd, text.compression === "gzip" ? zlib.gzipSync(bytes) : bytes);
        fs.rmSync(`${tmp}.header`);
      } else if (text.compression === "gzip" && files.length === 0) {
        fs.writeSync(fd, zlib.gzipSync(Buffer.alloc(0))); // no rows: still a valid gzip file
      }
      const buf = Buffer.allocUnsafe(1 << 20);
      for (const f of files) {
        const src = fs.openSync(f, "r");
        try {
          for (;;) {
            const n = fs.readSync(src, buf, 0, buf.length, null);
            if (n === 0) break;
            fs.writeSync(fd, buf, 0, n);
          }
        } finally {
          fs.closeSync(src);
        }
      }
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } else if (format === "parquet") {
    mergeParquet(files, tmp, fields);
  } else {
    const sink = await openSink(tmp, format, fields);
    for (const f of files) {
      const src = await openSource(f, { format });
      for await (const c of src.chunks()) await sink.write(c.batch);
    }
    await sink.close();
  }
  commitFile(tmp, output);
  fsyncDir(path.dirname(output));
}
