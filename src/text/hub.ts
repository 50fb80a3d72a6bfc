/**
 * pullModel: downloads the files a text model needs from a Hugging Face-hub-style server.
 *
 * Layout the server must serve:
 *   GET {endpoint}/api/models/{repo}/revision/{rev}   (optional) JSON `{ sha?, siblings: [{ rfilename, size?, lfs?: { sha256, size } }] }`
 *   GET {endpoint}/{repo}/resolve/{rev}/{file}        the file, or a redirect to it; LFS files carry
 *        `X-Linked-Etag: "<sha256>"` and `X-Linked-Size` on the first response (the hub's convention)
 *
 * Steps: offline check (a complete cache → return, no network) → take the folder's lock (another
 * pull of the same folder is waited for, then its result used) → list files (API, else a fixed
 * list of what TextEmbedder reads) → per file: GET with `Range: bytes=<have>-` into `<file>.part`,
 * append on 206 / restart on 200, verify size and sha256 (LFS) or the git blob sha1 (small files
 * whose ETag is one), rename into place → write `.tessera-pull.json` (the manifest that makes the
 * next call offline). A cut connection is retried from where it stopped (`retries`), and a later
 * call resumes the `.part` files too.
 */
import { createHash } from "node:crypto";
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { homedir, hostname } from "node:os";
import { dirname, join } from "node:path";
import { TesseraError } from "../tensor/index.ts";

export interface PullOptions {
  /** "org/name". */
  readonly repo: string;
  /** Branch, tag or commit. Default "main". */
  readonly revision?: string;
  /** Default $HF_ENDPOINT or https://huggingface.co. */
  readonly endpoint?: string;
  /** Cache root; the model lands in `<cache>/<org>--<name>/<revision>`. Default $TESSERA_CACHE or ~/.cache/tessera/models. */
  readonly cacheDir?: string;
  /** Graph variant: "quantized" → onnx/model_quantized.onnx. */
  readonly variant?: string;
  /** Bearer token (default $HF_TOKEN). */
  readonly token?: string;
  /** Retries per file after a cut, stalled or failed transfer (resuming with Range), or a 408/429/5xx answer (after its Retry-After). Default 3. */
  readonly retries?: number;
  /** Re-check the server even when the cache is complete. */
  readonly refresh?: boolean;
  /**
   * Milliseconds without a response or a byte of body before a request is given up (and the file
   * retried from where it stopped, up to `retries`). Default 30000.
   */
  readonly idleTimeoutMs?: number;
  readonly onProgress?: (event: PullEvent) => void;
}

export type PullEvent =
  | {
      readonly type: "file";
      readonly path: string;
      readonly size: number | undefined;
      readonly resumeFrom: number;
    }
  | { readonly type: "done"; readonly path: string; readonly bytes: number }
  | { readonly type: "retry"; readonly path: string; readonly attempt: number; readonly reason: string };

export interface PulledFile {
  readonly path: string;
  readonly size: number;
  readonly sha256?: string;
}

export interface PullResult {
  /** The model folder (load it with TextEmbedder.load). */
  readonly dir: string;
  readonly files: readonly PulledFile[];
  /** True when the cache was complete and no request was made. */
  readonly offline: boolean;
}

const MANIFEST = ".tessera-pull.json";
const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

/** Files TextEmbedder reads (all optional except tokenizer.json and one graph). */
const CONFIG_FILES = [
  "config.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "modules.json",
  "1_Pooling/config.json",
  "sentence_bert_config.json",
  "config_sentence_transformers.json",
];

/**
 * sentence-transformers module files Tessera reads besides CONFIG_FILES: a Pooling config at another
 * index, and Dense layers (config + safetensors weights, applied after pooling when the graph has
 * token states only). Without a listing the common `2_Dense` folder is asked for.
 */
const MODULE_FILE = /^\d+_(Pooling|Dense)[^/]*\/(config\.json|model\.safetensors)$/;
const DEFAULT_MODULE_FILES = ["2_Dense/config.json", "2_Dense/model.safetensors"];

function graphCandidates(variant: string | undefined): string[] {
  return variant
    ? [`onnx/model_${variant}.onnx`, `model_${variant}.onnx`]
    : ["onnx/model.onnx", "model.onnx"];
}

function pullError(code: string, message: string, facts: Record<string, unknown>): TesseraError {
  return new TesseraError(code, message, facts);
}

/** Default cache root. */
export function defaultCacheDir(): string {
  return process.env.TESSERA_CACHE ?? join(homedir(), ".cache", "tessera", "models");
}

/** Folder a (repo, revision) lands in. */
export function cachePath(cacheDir: string, repo: string, revision: string): string {
  return join(cacheDir, repo.replace("/", "--"), revision.replace(/[^\w.-]/g, "_"));
}

interface Manifest {
  readonly repo: string;
  readonly revision: string;
  readonly files: PulledFile[];
}

interface Wanted {
  readonly path: string;
  readonly size?: number;
  readonly sha256?: string;
  readonly required: boolean;
  /**
   * Without a listing: one of the graphs to try in order. The first one found is taken (the rest
   * are skipped) with its external data `<graph>_data` when the server has it.
   */
  readonly candidate?: boolean;
}

function checkRepo(repo: string): void {
  if (!/^[\w.-]+\/[\w.-]+$/.test(repo) || repo.includes("..")) {
    throw pullError("E_PULL_REPO", `repo must look like ORG/NAME, got ${JSON.stringify(repo)}`, { repo });
  }
}

function readManifest(dir: string): Manifest | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, MANIFEST), "utf8")) as Manifest;
  } catch {
    return undefined;
  }
}

function complete(dir: string, m: Manifest): boolean {
  return m.files.every((f) => {
    try {
      return statSync(join(dir, f.path)).size === f.size;
    } catch {
      return false;
    }
  });
}

/** Downloads (or finds in the cache) the files of a text model. */
export async function pullModel(options: PullOptions): Promise<PullResult> {
  checkRepo(options.repo);
  const revision = options.revision ?? "main";
  const endpoint = (options.endpoint ?? process.env.HF_ENDPOINT ?? "https://huggingface.co").replace(
    /\/+$/,
    "",
  );
  const dir = cachePath(options.cacheDir ?? defaultCacheDir(), options.repo, revision);
  const cached = readManifest(dir);
  if (cached && !options.refresh && complete(dir, cached)) return { dir, files: cached.files, offline: true };
  mkdirSync(dir, { recursive: true });
  // One pull per folder at a time (processes or calls): they would write the same .part files.
  return withPullLock(dir, async () => {
    // A pull that held the lock meanwhile may have completed the folder.
    const done = readManifest(dir);
    if (done && !options.refresh && complete(dir, done)) return { dir, files: done.files, offline: true };
    return download(options, endpoint, revision, dir);
  });
}

const LOCK = ".tessera-pull.lock";

/**
 * Runs `fn` holding `<dir>/.tessera-pull.lock` (created exclusively; holds pid, host, time). A lock
 * whose process is gone (same host), or that was not refreshed for a minute (another host: the
 * holder touches it every 10 s), is stale and taken over.
 */
async function withPullLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const path = join(dir, LOCK);
  for (;;) {
    try {
      writeFileSync(path, JSON.stringify({ pid: process.pid, host: hostname(), at: Date.now() }), {
        flag: "wx",
      });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      if (staleLock(path)) rmSync(path, { force: true });
      else await new Promise<void>((r) => setTimeout(r, 100));
    }
  }
  const beat = setInterval(() => {
    try {
      const now = new Date();
      utimesSync(path, now, now);
    } catch {
      // taken over as stale: nothing to refresh
    }
  }, 10_000);
  beat.unref();
  try {
    return await fn();
  } finally {
    clearInterval(beat);
    rmSync(path, { force: true });
  }
}

function staleLock(path: string): boolean {
  let age: number;
  try {
    age = Date.now() - statSync(path).mtimeMs;
  } catch {
    return false; // just released: try again
  }
  let holder: { pid?: unknown; host?: unknown } = {};
  try {
    holder = JSON.parse(readFileSync(path, "utf8")) as typeof holder;
  } catch {
    return age > 5_000; // being written, or garbage left behind
  }
  if (holder.host === hostname() && typeof holder.pid === "number") {
    try {
      process.kill(holder.pid, 0);
      return false;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === "ESRCH";
    }
  }
  return age > 60_000;
}

/** Downloads what the listing (or the fixed file list) names into `dir` and writes the manifest. */
async function download(
  options: PullOptions,
  endpoint: string,
  revision: string,
  dir: string,
): Promise<PullResult> {
  const token = options.token ?? process.env.HF_TOKEN;
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const wanted = await listFiles(
    endpoint,
    options.repo,
    revision,
    options.variant,
    headers,
    options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
  );
  const files: PulledFile[] = [];
  let graphFound = false;
  for (const w of wanted) {
    if (w.candidate && graphFound) continue;
    const got = await downloadFile(endpoint, options.repo, revision, w, dir, headers, options);
    if (got) {
      files.push(got);
      if (w.path.endsWith(".onnx")) graphFound = true;
      if (w.candidate) {
        const data = { path: `${w.path}_data`, required: false };
        const gotData = await downloadFile(endpoint, options.repo, revision, data, dir, headers, options);
        if (gotData) files.push(gotData);
      }
    } else if (w.required) {
      throw pullError("E_PULL_MISSING", `${options.repo}@${revision} has no ${w.path}`, {
        repo: options.repo,
        file: w.path,
      });
    }
  }
  if (!graphFound) {
    throw pullError(
      "E_PULL_MISSING",
      `${options.repo}@${revision} has none of ${graphCandidates(options.variant).join(", ")}`,
      {
        repo: options.repo,
      },
    );
  }
  const manifest: Manifest = { repo: options.repo, revision, files };
  writeFileSync(join(dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  return { dir, files, offline: false };
}

async function listFiles(
  endpoint: string,
  repo: string,
  revision: string,
  variant: string | undefined,
  headers: Record<string, string>,
  idleTimeoutMs: number,
): Promise<Wanted[]> {
  const graphs = graphCandidates(variant);
  let siblings: { rfilename: string; size?: number; lfs?: { sha256?: string; size?: number } }[] | undefined;
  try {
    const r = await fetch(
      `${endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}?blobs=true`,
      { headers, signal: AbortSignal.timeout(idleTimeoutMs) },
    );
    if (r.ok) {
      const j = (await r.json()) as { siblings?: unknown };
      if (Array.isArray(j.siblings)) siblings = j.siblings as typeof siblings;
    } else await r.body?.cancel();
  } catch (e) {
    throw pullError("E_PULL_NETWORK", `cannot reach ${endpoint}: ${(e as Error).message}`, { endpoint });
  }
  if (!siblings) {
    // No listing API: ask for the fixed list; missing optional files are skipped (404).
    return [
      ...CONFIG_FILES.map((p) => ({ path: p, required: p === "tokenizer.json" })),
      ...DEFAULT_MODULE_FILES.map((p) => ({ path: p, required: false })),
      ...graphs.map((p) => ({ path: p, required: false, candidate: true })),
    ];
  }
  const byName = new Map(siblings.map((s) => [s.rfilename, s]));
  const out: Wanted[] = [];
  const add = (p: string, required: boolean): void => {
    const s = byName.get(p);
    if (!s) {
      if (required) throw pullError("E_PULL_MISSING", `${repo}@${revision} has no ${p}`, { repo, file: p });
      return;
    }
    const size = s.lfs?.size ?? s.size;
    out.push({
      path: p,
      required,
      ...(size !== undefined ? { size } : {}),
      ...(s.lfs?.sha256 ? { sha256: s.lfs.sha256 } : {}),
    });
  };
  for (const p of CONFIG_FILES) add(p, p === "tokenizer.json");
  for (const s of siblings)
    if (MODULE_FILE.test(s.rfilename) && !CONFIG_FILES.includes(s.rfilename)) add(s.rfilename, false);
  const graph = graphs.find((g) => byName.has(g));
  if (!graph) {
    const others = siblings.map((x) => x.rfilename).filter((f) => f.endsWith(".onnx"));
    throw pullError(
      "E_PULL_MISSING",
      `${repo}@${revision} has none of ${graphs.join(", ")}` +
        (others.length ? ` (it has ${others.join(", ")}; pick one with --variant)` : " (no ONNX export)"),
      { repo, available: others },
    );
  }
  add(graph, true);
  if (byName.has(`${graph}_data`)) add(`${graph}_data`, true);
  return out;
}

function cleanTag(v: string | null): string | undefined {
  if (!v) return undefined;
  return v.replace(/^W\//, "").replace(/"/g, "").toLowerCase();
}

async function hashFile(path: string, algo: "sha256" | "sha1", prefix?: Buffer): Promise<string> {
  const h = createHash(algo);
  if (prefix) h.update(prefix);
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** HTTP statuses worth another try: timeouts, rate limits, server errors. */
const TRANSIENT = new Set([408, 429, 500, 502, 503, 504]);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Retry-After in seconds (capped at 30 s) when the server sent one, else 1, 2, 4 ... 10 s. */
function retryDelayMs(retryAfter: string | null, attempt: number): number {
  const s = retryAfter === null ? Number.NaN : Number(retryAfter);
  if (Number.isFinite(s) && s >= 0) return Math.min(s, 30) * 1000;
  return Math.min(1000 * 2 ** attempt, 10_000);
}

/** Downloads one file into `dir`; undefined when the server has no such file (404). */
async function downloadFile(
  endpoint: string,
  repo: string,
  revision: string,
  w: Wanted,
  dir: string,
  headers: Record<string, string>,
  options: PullOptions,
): Promise<PulledFile | undefined> {
  const final = join(dir, w.path);
  const part = `${final}.part`;
  mkdirSync(dirname(final), { recursive: true });
  const retries = options.retries ?? 3;
  let lastError: unknown;
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (attempt > 0)
      options.onProgress?.({
        type: "retry",
        path: w.path,
        attempt,
        reason: String((lastError as Error)?.message ?? lastError),
      });
    try {
      return await downloadOnce(
        `${endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${w.path}`,
        w,
        final,
        part,
        headers,
        options,
      );
    } catch (e) {
      lastError = e;
      if (e instanceof TesseraError && e.code === "E_PULL_HTTP" && TRANSIENT.has(e.facts.status as number)) {
        // Overloaded or failing for a moment (as huggingface_hub, retry 429/5xx): wait as told, else back off.
        if (attempt < retries) await sleep(retryDelayMs(e.facts.retryAfter as string | null, attempt));
        continue;
      }
      if (e instanceof TesseraError && (e.code === "E_PULL_VERIFY" || e.code === "E_PULL_HTTP")) throw e;
    }
  }
  if (lastError instanceof TesseraError && lastError.code === "E_PULL_HTTP") throw lastError;
  throw pullError(
    "E_PULL_NETWORK",
    `downloading ${w.path} failed after ${retries + 1} attempts: ${(lastError as Error)?.message ?? lastError}`,
    {
      file: w.path,
      partialBytes: existsSync(part) ? statSync(part).size : 0,
    },
  );
}

async function downloadOnce(
  url: string,
  w: Wanted,
  final: string,
  part: string,
  headers: Record<string, string>,
  options: PullOptions,
): Promise<PulledFile | undefined> {
  const have = existsSync(part) ? statSync(part).size : 0;
  // identity: the bytes as stored. fetch would otherwise accept gzip and inflate it, so a
  // compressing server's Content-Length (and Range offsets) would not be the file's.
  const reqHeaders: Record<string, string> = {
    ...headers,
    "accept-encoding": "identity",
    ...(have > 0 ? { range: `bytes=${have}-` } : {}),
  };
  // A stalled server (no response, or no byte for idleTimeoutMs) aborts this attempt; the caller
  // retries from what the .part holds.
  const idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const idle = new AbortController();
  const timer = setTimeout(() => idle.abort(new Error(`no data for ${idleMs} ms`)), idleMs);
  // Called per body chunk: refresh() re-arms the same timer instead of allocating a new one each time.
  const alive = (): void => {
    timer.refresh();
  };
  const signal = idle.signal;
  try {
    let res = await fetch(url, { headers: reqHeaders, redirect: "manual", signal });
    alive();
    // The hub's first response (often a redirect to a CDN) carries the LFS hash and size.
    let sha256 =
      w.sha256 ??
      (/^[0-9a-f]{64}$/.test(cleanTag(res.headers.get("x-linked-etag")) ?? "")
        ? cleanTag(res.headers.get("x-linked-etag"))
        : undefined);
    const linkedSize = res.headers.get("x-linked-size");
    let size = w.size ?? (linkedSize ? Number(linkedSize) : undefined);
    // Redirects are followed by hand (to read the hub's headers above). As fetch and huggingface_hub
    // do, a relative Location resolves against the URL that sent it, and the token goes to the hub's
    // origin only: the CDN's signed URLs must not get it (S3 refuses a second credential with a 400).
    let current = new URL(url);
    const { authorization: _token, ...anonHeaders } = reqHeaders;
    for (let hops = 0; res.status >= 300 && res.status < 400 && hops < 5; hops++) {
      const loc = res.headers.get("location");
      await res.body?.cancel();
      if (!loc)
        throw pullError("E_PULL_HTTP", `${current.href}: redirect without Location`, { url: current.href });
      const next = new URL(loc, current);
      const sameOrigin = next.origin === new URL(url).origin;
      res = await fetch(next, { headers: sameOrigin ? reqHeaders : anonHeaders, redirect: "manual", signal });
      alive();
      current = next;
    }
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    if (res.status === 416 && have > 0) {
      // The part is already whole (or bigger than the file): verify it as is.
      await res.body?.cancel();
    } else if (res.status !== 200 && res.status !== 206) {
      await res.body?.cancel();
      // The hub answers 401 for private, gated and unknown repositories alike.
      const hint =
        res.status === 401 || res.status === 403
          ? headers.authorization
            ? " (the token was refused: check that it can read this repository, and accept the model's terms if it is gated)"
            : " (private, gated or unknown repository: set HF_TOKEN, or pass `token`, with a token that can read it)"
          : "";
      throw pullError("E_PULL_HTTP", `${url}: HTTP ${res.status}${hint}`, {
        url,
        status: res.status,
        retryAfter: res.headers.get("retry-after"),
      });
    } else {
      const etag = cleanTag(res.headers.get("etag"));
      if (!sha256 && etag && /^[0-9a-f]{64}$/.test(etag)) sha256 = etag;
      const cr = res.headers.get("content-range");
      const from = res.status === 206 && cr ? Number(/^bytes (\d+)-/.exec(cr)?.[1]) : 0;
      // A 206 continues the .part only when it starts where the part stops; from 0 it is the whole
      // file (rewrite the part); from elsewhere it fits nothing: drop the part and start over.
      if (from !== have && from !== 0) {
        await res.body?.cancel();
        rmSync(part, { force: true });
        throw new Error(`asked for bytes from ${have}, got a range from ${cr}`);
      }
      const append = res.status === 206 && from === have && have > 0;
      if (size === undefined) {
        const total = cr ? Number(cr.split("/")[1]) : Number.NaN;
        const len = res.headers.get("content-length");
        if (Number.isFinite(total)) size = total;
        else if (!append && len) size = Number(len);
      }
      options.onProgress?.({ type: "file", path: w.path, size, resumeFrom: append ? have : 0 });
      if (!res.body) throw pullError("E_PULL_HTTP", `${url}: empty body`, { url });
      const out = createWriteStream(part, { flags: append ? "a" : "w" });
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          alive();
          if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", r));
        }
      } finally {
        await new Promise<void>((r) => out.end(r));
      }
      const gitSha1 = !sha256 && etag && /^[0-9a-f]{40}$/.test(etag) ? etag : undefined;
      return finish(w, final, part, size, sha256, gitSha1, options);
    }
    return finish(w, final, part, size, sha256, undefined, options);
  } finally {
    clearTimeout(timer);
  }
}

async function finish(
  w: Wanted,
  final: string,
  part: string,
  size: number | undefined,
  sha256: string | undefined,
  gitSha1: string | undefined,
  options: PullOptions,
): Promise<PulledFile> {
  const got = statSync(part).size;
  if (size !== undefined && got < size) throw new Error(`transfer cut at ${got} of ${size} bytes`);
  const bad = (what: string, facts: Record<string, unknown>): TesseraError => {
    rmSync(part, { force: true });
    return pullError("E_PULL_VERIFY", `${w.path}: ${what}; the partial file was deleted, pull again`, {
      file: w.path,
      ...facts,
    });
  };
  if (size !== undefined && got !== size)
    throw bad(`size ${got} != expected ${size}`, { size: got, expected: size });
  let digest: string | undefined;
  if (sha256) {
    digest = await hashFile(part, "sha256");
    if (digest !== sha256)
      throw bad(`sha256 ${digest} != expected ${sha256}`, { sha256: digest, expected: sha256 });
  } else if (gitSha1) {
    const blob = await hashFile(part, "sha1", Buffer.from(`blob ${got}\0`));
    if (blob !== gitSha1)
      throw bad(`git blob sha1 ${blob} != ETag ${gitSha1}`, { sha1: blob, expected: gitSha1 });
  }
  renameSync(part, final);
  options.onProgress?.({ type: "done", path: w.path, bytes: got });
  return { path: w.path, size: got, ...(digest ? { sha256: digest } : {}) };
}
