/**
 * ModelRegistry: a repository folder of models, each version loaded once into an `InferenceSession`.
 *
 *   <root>/<model>/config.json           optional (see model-config.ts)
 *   <root>/<model>/<version>/model.onnx  numeric versions, served per the version policy
 *   <root>/<model>/ as a Hugging Face folder (tokenizer.json + onnx/model.onnx | model.onnx), or a
 *   config.json `{ "kind": "hf", "source": "<folder>" }`: one version "1".
 *   <root> itself a Hugging Face folder (TEI's `--model-id /path`, a `tessera pull` folder): the repository is
 *   that one model, named after the folder.
 *
 * States per version: unavailable → loading → ready | failed(reason); unloading → unavailable.
 * Invariants:
 *   1. At most one load per version runs at a time; concurrent `get`s share it.
 *   2. A version that fails records its reason and fails alone; other models keep serving.
 *   3. A reload swaps the new session in before closing the old one; if the reload fails the old
 *      session keeps serving (state stays ready, reason says why the reload failed).
 *   4. With a memory budget, the sum of file sizes of ready+loading versions stays within it by
 *      unloading the least recently used ready versions first.
 *   5. Readiness (`isReady`) counts the versions that are supposed to be loaded: an explicit `unload()` takes a
 *      version (or a whole model) out of the count once it is unavailable, until a `load()` or `get()` loads it
 *      again (Triton's strict readiness: ready again after an unload completes, not ready while it runs); a
 *      folder that a scan after `loadAll` finds counts once something asks to load it.
 */
import { EventEmitter } from "node:events";
import { type Dirent, existsSync, type FSWatcher, watch } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { basename, join, resolve, sep } from "node:path";
import { TesseraError } from "../tensor/index.ts";
import { type ConfigIssue, loadModelConfig } from "./model-config.ts";
import { openSession } from "./ort-session.ts";
import type { LoadedModel, ModelConfig, ModelState, ModelVersionStatus } from "./registry-types.ts";
import type { SessionOptions } from "./session.ts";

/** pino-compatible logger subset. */
export interface RegistryLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface ModelRegistryOptions {
  /** The repository folder. */
  readonly root: string;
  /** Session options for every model; config.json `replicas`, `intraOpThreads`, `intraOpSpinning`, `providers` override them. */
  readonly sessionDefaults?: SessionOptions;
  /** Upper bound on the summed .onnx sizes of loaded models; least recently used ones are unloaded to fit. */
  readonly memoryBudgetBytes?: number;
  /** Watch the root folder and reload models whose files change. Default false. */
  readonly watch?: boolean;
  /** Quiet period before a burst of file changes triggers reloads, ms. Default 300. */
  readonly watchDebounceMs?: number;
  readonly logger?: RegistryLogger;
}

/** Valid model names: no separators, no leading dot (so no path traversal). */
export const MODEL_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

interface VersionEntry {
  readonly name: string;
  readonly version: string;
  modelPath: string;
  state: ModelState;
  reason: string | undefined;
  loading: Promise<LoadedModel> | undefined;
  unloading: Promise<void> | undefined;
  loaded: LoadedModel | undefined;
  lastUsed: number;
  byteSize: number;
  /** size:mtime of the files the loaded session came from (model.onnx, then its external-data files). */
  loadedStamp: string | undefined;
  /** The external-data files of the loaded model (their changes reload it like a changed model.onnx). */
  externalPaths: readonly string[];
  /** Bytes of those files at the last load: part of `byteSize`, which a rescan otherwise sets from model.onnx alone. */
  externalBytes: number;
  loadedConfigStamp: string | undefined;
  /** Unloaded by an explicit `unload()` and not loaded since: server readiness does not wait for it. */
  unloadedByRequest: boolean;
}

interface ModelEntry {
  readonly name: string;
  readonly dir: string;
  kind: "onnx" | "hf";
  hfDir: string | undefined;
  config: ModelConfig;
  configIssues: ConfigIssue[] | undefined;
  configStamp: string;
  /** Versions on disk, by version string. */
  versions: Map<string, VersionEntry>;
  /** Versions the policy serves (existing ones), ascending. */
  selected: string[];
  /** Versions named by `versionPolicy.specific` that do not exist. */
  missing: string[];
  /** Why the model has no loadable version (empty folder, HF folder without an .onnx). */
  problem: string | undefined;
}

const noopLogger: RegistryLogger = { info() {}, warn() {}, error() {} };

/** How a version's reason starts when a reload failed and the previous load keeps serving. */
const STILL_SERVING = "reload failed, still serving the previous load: ";

/** The reason an explicitly unloaded version shows (Triton's repository index says "unloaded" too). */
const UNLOADED = "unloaded";

/** Stamp of a model version's files: model.onnx, then each external-data file. */
async function versionStamp(modelPath: string, externalPaths: readonly string[]): Promise<string> {
  const parts = await Promise.all([modelPath, ...externalPaths].map(fileStamp));
  return parts.join("|");
}

async function fileStamp(path: string): Promise<string> {
  try {
    const s = await stat(path);
    return `${s.size}:${s.mtimeMs}`;
  } catch {
    return "missing";
  }
}

/**
 * Whether a directory entry is a folder, following symbolic links (a mounted volume or a release link such as
 * `<model>/3 -> /mnt/releases/2024-06`); a dangling link is not.
 */
async function isFolder(parent: string, e: Dirent): Promise<boolean> {
  if (e.isDirectory()) return true;
  if (!e.isSymbolicLink()) return false;
  try {
    return (await stat(join(parent, e.name))).isDirectory();
  } catch {
    return false;
  }
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function byVersion(a: string, b: string): number {
  return Number(a) - Number(b);
}

/** The versions a policy serves out of those on disk (ascending), and the pinned ones that are missing. */
export function selectVersions(
  policy: ModelConfig["versionPolicy"],
  available: readonly string[],
): { selected: string[]; missing: string[] } {
  const sorted = [...available].sort(byVersion);
  if (policy === undefined || policy === "latest") return { selected: sorted.slice(-1), missing: [] };
  if (policy === "all") return { selected: sorted, missing: [] };
  if ("latest" in policy) return { selected: sorted.slice(-policy.latest), missing: [] };
  const wanted = policy.specific.map(String);
  return {
    selected: sorted.filter((v) => wanted.includes(v)),
    missing: wanted.filter((v) => !sorted.includes(v)),
  };
}

/** Events: `state` (a version changed state), `reconciled` (model names handled after a watched change). */
export interface ModelRegistryEvents {
  state: [status: ModelVersionStatus];
  reconciled: [names: string[]];
}

export class ModelRegistry extends EventEmitter<ModelRegistryEvents> {
  readonly root: string;
  /** Set when the root itself is a Hugging Face folder: the name of the one model it serves. */
  private readonly rootModel: string | undefined;
  private readonly opts: ModelRegistryOptions;
  private readonly log: RegistryLogger;
  private readonly models = new Map<string, ModelEntry>();
  private readonly scanning = new Map<string, Promise<ModelEntry | undefined>>();
  private indexed = false;
  private autoload = false;
  private closed = false;
  private watcher: FSWatcher | undefined;
  private watchTimer: NodeJS.Timeout | undefined;
  private readonly changed = new Set<string>();
  private watchChain: Promise<void> = Promise.resolve();
  private useClock = 0;
  /** Models unloaded as a whole by an explicit `unload(name)` and not loaded since (names survive rescans). */
  private readonly unloadedModels = new Set<string>();
  /**
   * Models something asked to load: `loadAll` (all it found), `load`, `get`, a watched change. After `loadAll`,
   * readiness counts only these: a folder a later `index()` finds is not supposed to be loaded until asked.
   */
  private readonly wanted = new Set<string>();

  constructor(opts: ModelRegistryOptions) {
    super();
    this.opts = opts;
    this.root = resolve(opts.root);
    this.log = opts.logger ?? noopLogger;
    this.rootModel = hfFolderModelName(this.root);
    if (this.rootModel !== undefined) {
      this.log.info(
        { root: this.root, model: this.rootModel },
        "the repository folder is a Hugging Face model folder: serving it as one model",
      );
    }
    if (opts.memoryBudgetBytes !== undefined && !(opts.memoryBudgetBytes > 0)) {
      throw new TesseraError(
        "E_OPTIONS_INVALID",
        `memoryBudgetBytes must be > 0, got ${opts.memoryBudgetBytes}`,
        {
          memoryBudgetBytes: opts.memoryBudgetBytes,
        },
      );
    }
    if (opts.watch) this.startWatching();
  }

  // ------------------------------------------------------------------------------------------------
  // Scanning

  /** Scans the repository: every model and version on disk with its state. */
  async index(): Promise<ModelVersionStatus[]> {
    this.assertOpen();
    let names: string[];
    try {
      const entries = await readdir(this.root, { withFileTypes: true });
      names = [];
      if (this.rootModel !== undefined) names.push(this.rootModel);
      else
        for (const e of entries)
          if (!e.name.startsWith(".") && (await isFolder(this.root, e))) names.push(e.name);
    } catch (err) {
      throw new TesseraError(
        "E_MODEL_REPOSITORY",
        `model repository ${this.root} cannot be read: ${errMessage(err)}`,
        {
          root: this.root,
        },
      );
    }
    for (const name of names) {
      if (!MODEL_NAME_RE.test(name)) {
        this.log.warn({ model: name }, "skipping folder: not a valid model name");
        continue;
      }
      await this.scan(name);
    }
    for (const name of [...this.models.keys()]) {
      if (!names.includes(name) && !this.hasLiveVersions(this.models.get(name)!)) this.models.delete(name);
    }
    this.indexed = true;
    return [...this.models.keys()].sort().flatMap((n) => this.status(n));
  }

  /**
   * (Re)reads one model folder from disk; merges with known versions (keeping their states).
   * Concurrent scans of one name share a single read, so they agree on the version entries.
   */
  private scan(name: string): Promise<ModelEntry | undefined> {
    const running = this.scanning.get(name);
    if (running) return running;
    const p = this.scanNow(name).finally(() => this.scanning.delete(name));
    this.scanning.set(name, p);
    return p;
  }

  private async scanNow(name: string): Promise<ModelEntry | undefined> {
    if (this.rootModel !== undefined && name !== this.rootModel) return undefined;
    const dir = this.rootModel !== undefined ? this.root : join(this.root, name);
    let isDir = false;
    try {
      isDir = (await stat(dir)).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) {
      const gone = this.models.get(name);
      if (gone && !this.hasLiveVersions(gone)) this.models.delete(name);
      return undefined;
    }
    const cfg = loadModelConfig(dir);
    const configStamp = await fileStamp(join(dir, "config.json"));
    // A config.json broken after a load keeps the last good config for everything it decides (which versions are
    // served, the kind): the loaded versions go on serving as they did until the file is fixed.
    const config: ModelConfig = cfg.ok ? cfg.value : (this.models.get(name)?.config ?? { kind: "onnx" });
    const entries = await readdir(dir, { withFileTypes: true });
    const found = new Map<string, string>();
    /** Version → the folder name it was read from ("007" and "7" are both version 7). */
    const folderOf = new Map<string, string>();
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (/^\d+$/.test(e.name) && (await isFolder(dir, e))) {
        const p = join(dir, e.name, "model.onnx");
        if (!existsSync(p)) continue;
        const v = String(Number(e.name));
        const seen = folderOf.get(v);
        if (seen !== undefined) {
          // Keep the folder spelled without leading zeros (else the first in name order), and say so.
          const keep = e.name === v ? e.name : seen;
          this.log.warn(
            { model: name, version: v, folders: [seen, e.name], serving: keep },
            "two version folders name the same version; serving one of them",
          );
          if (keep === seen) continue;
        }
        folderOf.set(v, e.name);
        found.set(v, p);
      }
    }
    let kind: "onnx" | "hf" = config.kind;
    let hfDir: string | undefined;
    let problem: string | undefined;
    if (kind === "onnx" && found.size === 0 && existsSync(join(dir, "tokenizer.json"))) kind = "hf";
    if (kind === "hf") {
      hfDir = config.source ? resolve(dir, config.source) : dir;
      found.clear();
      const file = config.variant ? `model_${config.variant}.onnx` : "model.onnx";
      const candidates = [join(hfDir, "onnx", file), join(hfDir, file)];
      const p = candidates.find((c) => existsSync(c));
      if (p) found.set("1", p);
      else problem = `no ONNX file in Hugging Face folder ${hfDir} (looked for onnx/${file} and ${file})`;
    } else if (found.size === 0) {
      problem = `no version folder with a model.onnx in ${dir} (expected ${dir}${sep}<number>${sep}model.onnx)`;
    }
    const { selected, missing } = selectVersions(config.versionPolicy, [...found.keys()]);
    const sizes = new Map<string, number>();
    for (const [v, p] of found) {
      try {
        sizes.set(v, (await stat(p)).size);
      } catch {
        sizes.set(v, 0);
      }
    }
    // No awaits from here on: merge with the entry as it is now.
    const prev = this.models.get(name);
    const versions = new Map<string, VersionEntry>();
    for (const [v, p] of found) {
      const old = prev?.versions.get(v);
      const byteSize = sizes.get(v) ?? 0;
      if (old) {
        old.modelPath = p;
        old.byteSize = byteSize + old.externalBytes;
        versions.set(v, old);
      } else versions.set(v, this.newVersion(name, v, p, byteSize));
    }
    // Versions gone from disk but still loaded stay known until unloaded.
    for (const [v, old] of prev?.versions ?? []) {
      if (!versions.has(v) && (old.loaded || old.loading)) versions.set(v, old);
    }
    const entry: ModelEntry = {
      name,
      dir,
      kind,
      hfDir,
      config,
      configIssues: cfg.ok ? undefined : cfg.issues,
      configStamp,
      versions,
      selected,
      missing,
      problem,
    };
    this.models.set(name, entry);
    return entry;
  }

  private newVersion(name: string, version: string, modelPath: string, byteSize: number): VersionEntry {
    return {
      name,
      version,
      modelPath,
      state: "unavailable",
      reason: undefined,
      loading: undefined,
      unloading: undefined,
      loaded: undefined,
      lastUsed: 0,
      byteSize,
      loadedStamp: undefined,
      externalPaths: [],
      externalBytes: 0,
      loadedConfigStamp: undefined,
      unloadedByRequest: false,
    };
  }

  private hasLiveVersions(m: ModelEntry): boolean {
    for (const v of m.versions.values()) if (v.loaded || v.loading || v.unloading) return true;
    return false;
  }

  // ------------------------------------------------------------------------------------------------
  // Status

  /** States of every version of `name` (on disk or pinned by the policy); `[]` for an unknown model. */
  status(name: string): ModelVersionStatus[] {
    const m = this.models.get(name);
    if (!m) return [];
    const out: ModelVersionStatus[] = [];
    const configReason = m.configIssues
      ? `config.json invalid: ${m.configIssues.map((i) => `${i.path || "(root)"}: ${i.message}`).join("; ")}`
      : undefined;
    if (m.versions.size === 0 && m.missing.length === 0) {
      return [{ name, version: "", state: "failed", reason: configReason ?? m.problem ?? "no versions" }];
    }
    for (const v of [...m.versions.keys()].sort(byVersion)) {
      const e = m.versions.get(v)!;
      if (configReason && !e.loaded) out.push({ name, version: v, state: "failed", reason: configReason });
      else if (configReason) {
        // A config.json broken after the load: the loaded session keeps serving (as after a failed reload).
        out.push({ name, version: v, state: e.state, reason: `${STILL_SERVING}${configReason}` });
      } else if (!m.selected.includes(v) && e.state === "unavailable") {
        out.push({
          name,
          version: v,
          state: "unavailable",
          reason: `not served by the version policy (serving ${m.selected.join(", ") || "none"})`,
        });
      } else
        out.push(
          e.reason !== undefined
            ? { name, version: v, state: e.state, reason: e.reason }
            : { name, version: v, state: e.state },
        );
    }
    for (const v of m.missing) {
      out.push({
        name,
        version: v,
        state: "unavailable",
        reason: `version ${v} is pinned by versionPolicy.specific but ${join(m.dir, v, "model.onnx")} does not exist`,
      });
    }
    return out;
  }

  /**
   * True when the repository was indexed and every version the policies serve is ready, leaving out the versions
   * (and whole models) an explicit `unload()` took down and nothing loaded since, and, after `loadAll`, models a
   * later scan found that nothing asked to load. A version that is loading (unless it is a reload: the previous
   * load serves meanwhile) or unloading (from the `unload()` call on, also while it waits for a load to finish), or
   * failed to load, makes it false.
   */
  isReady(): boolean {
    if (!this.indexed || this.closed) return false;
    for (const m of this.models.values()) {
      if (this.autoload && !this.wanted.has(m.name)) continue; // found after loadAll, never asked to load
      if (this.unloadedModels.has(m.name) && !this.hasLiveVersions(m)) continue;
      if (m.configIssues) {
        // Broken after its versions were loaded: they keep serving what they served (as after a failed reload).
        if ([...m.versions.values()].some((e) => e.loaded !== undefined)) continue;
        return false;
      }
      if (m.problem || m.missing.length > 0) return false;
      for (const v of m.selected) {
        const e = m.versions.get(v);
        if (e?.unloadedByRequest) {
          // Unloaded, or an unload not done yet (it may be waiting for a load to finish first).
          if (e.state === "unavailable") continue;
          return false;
        }
        // A reload keeps the previous load serving until the new one is ready (invariant 3): still ready.
        if (e?.state === "loading" && e.loaded !== undefined) continue;
        if (e?.state !== "ready") return false;
      }
    }
    return true;
  }

  /** Names of the models found by the last scan, sorted. */
  names(): string[] {
    return [...this.models.keys()].sort();
  }

  private setState(e: VersionEntry, state: ModelState, reason?: string): void {
    e.state = state;
    e.reason = reason;
    const s: ModelVersionStatus =
      reason !== undefined
        ? { name: e.name, version: e.version, state, reason }
        : { name: e.name, version: e.version, state };
    this.emit("state", s);
  }

  // ------------------------------------------------------------------------------------------------
  // Lookup and loading

  private checkName(name: string): void {
    if (typeof name !== "string" || !MODEL_NAME_RE.test(name)) {
      throw new TesseraError(
        "E_MODEL_NAME_INVALID",
        `model name ${JSON.stringify(name)} is invalid; expected letters, digits, ".", "_" or "-", not starting with "." or "-"`,
        { model: name },
      );
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new TesseraError("E_REGISTRY_CLOSED", "the model registry is closed", {});
  }

  private async entryOf(name: string, rescan: boolean): Promise<ModelEntry> {
    this.checkName(name);
    let m = this.models.get(name);
    if (!m || rescan) m = await this.scan(name);
    if (!m) {
      throw new TesseraError(
        "E_MODEL_NOT_FOUND",
        `model ${JSON.stringify(name)} not found in ${this.root}; available: ${this.names().join(", ") || "(none)"}`,
        {
          model: name,
          available: this.names(),
        },
      );
    }
    if (m.configIssues) {
      throw new TesseraError(
        "E_MODEL_CONFIG_INVALID",
        `model ${name}: config.json invalid: ${m.configIssues.map((i) => `${i.path || "(root)"}: ${i.message}`).join("; ")}`,
        { model: name, issues: m.configIssues },
      );
    }
    return m;
  }

  private versionOf(m: ModelEntry, version: string | undefined): VersionEntry {
    if (version === undefined) {
      const latest = m.selected[m.selected.length - 1];
      if (latest === undefined) {
        throw new TesseraError(
          "E_MODEL_VERSION_NOT_FOUND",
          `model ${m.name}: ${m.problem ?? "no version is served by the version policy"}`,
          {
            model: m.name,
          },
        );
      }
      return m.versions.get(latest)!;
    }
    const v = /^\d+$/.test(version) ? String(Number(version)) : version;
    const e = m.versions.get(v);
    if (!e || !m.selected.includes(v)) {
      const why = e ? "exists but is not served by the version policy" : "does not exist";
      throw new TesseraError(
        "E_MODEL_VERSION_NOT_FOUND",
        `model ${m.name}: version ${JSON.stringify(version)} ${why}; served versions: ${m.selected.join(", ") || "(none)"}`,
        { model: m.name, version, served: [...m.selected] },
      );
    }
    return e;
  }

  /**
   * The loaded model, loading it on first use. 100 concurrent first calls share one load. `version`
   * omitted → the highest version the policy serves. Throws `E_MODEL_NAME_INVALID`, `E_MODEL_NOT_FOUND`,
   * `E_MODEL_CONFIG_INVALID`, `E_MODEL_VERSION_NOT_FOUND`, or `E_MODEL_LOAD_FAILED` (with the reason;
   * a failed version stays failed until `load()` or a watched change retries it).
   */
  async get(name: string, version?: string): Promise<LoadedModel> {
    this.assertOpen();
    this.checkName(name);
    let m = this.models.get(name);
    if (!m || (version !== undefined && !m.versions.has(version))) m = await this.entryOf(name, true);
    else if (m.configIssues) m = await this.entryOf(name, false);
    const e = this.versionOf(m, version);
    return this.ensureLoaded(m, e);
  }

  /**
   * The loaded model if it is ready now, without loading: throws `E_MODEL_NOT_READY` (with the state)
   * otherwise. For readiness checks and request paths that must not trigger loads.
   */
  tryGet(name: string, version?: string): LoadedModel {
    this.checkName(name);
    const m = this.models.get(name);
    if (!m)
      throw new TesseraError("E_MODEL_NOT_FOUND", `model ${JSON.stringify(name)} not found in ${this.root}`, {
        model: name,
      });
    const e = this.versionOf(m, version);
    if (!e.loaded) {
      throw new TesseraError(
        "E_MODEL_NOT_READY",
        `model ${name}@${e.version} is ${e.state}${e.reason ? ` (${e.reason})` : ""}`,
        {
          model: name,
          version: e.version,
          state: e.state,
        },
      );
    }
    e.lastUsed = ++this.useClock;
    return e.loaded;
  }

  private async ensureLoaded(m: ModelEntry, e: VersionEntry): Promise<LoadedModel> {
    if (e.unloading) await e.unloading;
    if (e.loaded) {
      e.lastUsed = ++this.useClock;
      return e.loaded;
    }
    if (e.loading) return e.loading;
    if (e.state === "failed") {
      throw new TesseraError(
        "E_MODEL_LOAD_FAILED",
        `model ${m.name}@${e.version} failed to load: ${e.reason ?? "unknown reason"}`,
        {
          model: m.name,
          version: e.version,
          reason: e.reason,
        },
      );
    }
    return this.startLoad(m, e);
  }

  private startLoad(m: ModelEntry, e: VersionEntry): Promise<LoadedModel> {
    e.unloadedByRequest = false;
    this.unloadedModels.delete(m.name);
    this.wanted.add(m.name);
    const p = this.loadVersion(m, e).finally(() => {
      if (e.loading === p) e.loading = undefined;
    });
    e.loading = p;
    p.catch(() => {});
    return p;
  }

  private async loadVersion(m: ModelEntry, e: VersionEntry): Promise<LoadedModel> {
    const label = `${m.name}@${e.version}`;
    const hadOld = e.loaded !== undefined;
    this.setState(e, "loading");
    const t0 = performance.now();
    try {
      await this.makeRoom(e);
      const stamp = await fileStamp(e.modelPath);
      const d = this.opts.sessionDefaults ?? {};
      const cfg = m.config;
      const session = await openSession(e.modelPath, {
        ...d,
        ...(cfg.replicas !== undefined ? { replicas: cfg.replicas } : {}),
        ...(cfg.intraOpThreads !== undefined ? { intraOpThreads: cfg.intraOpThreads } : {}),
        ...(cfg.intraOpSpinning !== undefined ? { intraOpSpinning: cfg.intraOpSpinning } : {}),
        ...(cfg.providers !== undefined ? { providers: cfg.providers } : {}),
        label,
      });
      if (this.closed) {
        await session.close();
        throw new TesseraError("E_REGISTRY_CLOSED", "the model registry was closed during the load", {});
      }
      if (session.totalBytes > e.byteSize) {
        // External-data files (model.onnx_data) are only known once the model is read: check the budget again
        // with the real size, unloading least recently used models (or failing) now.
        e.byteSize = session.totalBytes;
        try {
          await this.makeRoom(e);
        } catch (err) {
          await session.close();
          throw err;
        }
      }
      const loadMs = performance.now() - t0;
      const loaded: LoadedModel = {
        name: m.name,
        version: e.version,
        kind: m.kind,
        dir: m.dir,
        ...(m.hfDir !== undefined ? { hfDir: m.hfDir } : {}),
        modelPath: e.modelPath,
        config: cfg,
        session,
        description: session.description,
        loadMs,
      };
      const old = e.loaded;
      e.loaded = loaded;
      e.byteSize = session.totalBytes; // model.onnx and its external-data files
      e.externalBytes = session.totalBytes - session.description.byteSize;
      e.externalPaths = session.externalData.map((f) => f.path);
      e.loadedStamp = [
        stamp,
        ...session.externalData.map((f) => (f.size < 0 ? "missing" : `${f.size}:${f.mtimeMs}`)),
      ].join("|");
      e.loadedConfigStamp = m.configStamp;
      e.lastUsed = ++this.useClock;
      this.setState(e, "ready");
      this.log.info(
        { model: m.name, version: e.version, loadMs: Math.round(loadMs), provider: session.activeProvider },
        "model loaded",
      );
      if (old) await old.session.close().catch(() => {});
      return loaded;
    } catch (err) {
      const reason = errMessage(err);
      const code = err instanceof TesseraError ? err.code : undefined;
      if (hadOld && e.loaded) {
        this.setState(e, "ready", `${STILL_SERVING}${reason}`);
        this.log.warn(
          { model: m.name, version: e.version, reason },
          "model reload failed; previous version keeps serving",
        );
      } else {
        this.setState(e, "failed", reason);
        this.log.error({ model: m.name, version: e.version, reason }, "model failed to load");
      }
      throw new TesseraError(
        "E_MODEL_LOAD_FAILED",
        `model ${label} failed to load: ${reason}`,
        { model: m.name, version: e.version, reason, cause: code },
        { cause: err },
      );
    }
  }

  /** Unloads least recently used ready versions until `e` fits in the memory budget. */
  private async makeRoom(e: VersionEntry): Promise<void> {
    const budget = this.opts.memoryBudgetBytes;
    if (budget === undefined) return;
    const need = e.byteSize;
    if (need > budget)
      throw new TesseraError(
        "E_MODEL_TOO_LARGE",
        `needs ${need} bytes but the memory budget is ${budget} bytes`,
        { need, budget },
      );
    const all = [...this.models.values()].flatMap((m) => [...m.versions.values()]);
    let used = all.filter((v) => v !== e && (v.loaded || v.loading)).reduce((s, v) => s + v.byteSize, 0);
    if (e.loaded) used += 0; // a reload replaces its own session
    while (used + need > budget) {
      const victims = all
        .filter((v) => v !== e && v.loaded && !v.loading && !v.unloading)
        .sort((a, b) => a.lastUsed - b.lastUsed);
      const victim = victims[0];
      if (!victim) break;
      this.log.info(
        { model: victim.name, version: victim.version, bytes: victim.byteSize },
        "unloading least recently used model (memory budget)",
      );
      await this.unloadVersion(victim, `unloaded to fit the memory budget (${budget} bytes)`);
      used -= victim.byteSize;
    }
  }

  private unloadVersion(e: VersionEntry, reason?: string): Promise<void> {
    if (e.unloading) return e.unloading;
    const p = (async () => {
      if (e.loading) await e.loading.catch(() => {});
      const loaded = e.loaded;
      if (!loaded) {
        if (e.state === "failed") this.setState(e, "unavailable", reason);
        return;
      }
      this.setState(e, "unloading");
      e.loaded = undefined;
      await loaded.session.close().catch(() => {});
      e.loadedStamp = undefined;
      this.setState(e, "unavailable", reason);
    })().finally(() => {
      e.unloading = undefined;
    });
    e.unloading = p;
    return p;
  }

  /**
   * (Re)loads a model from disk: re-reads config.json and the version folders, loads every version
   * the policy serves (or just `version`), and unloads versions no longer served. A reload keeps the
   * old session serving until the new one is ready. Throws `E_MODEL_LOAD_FAILED` listing each failed
   * version after all have settled (the others are loaded).
   */
  async load(name: string, version?: string): Promise<LoadedModel[]> {
    this.assertOpen();
    // An explicit load means the model is supposed to be up again: it counts for readiness, even if it fails.
    if (MODEL_NAME_RE.test(name)) {
      this.unloadedModels.delete(name);
      this.wanted.add(name);
    }
    let m: ModelEntry;
    try {
      m = await this.entryOf(name, true);
    } catch (err) {
      if (err instanceof TesseraError && err.code === "E_MODEL_CONFIG_INVALID") {
        for (const e of this.models.get(name)?.versions.values() ?? [])
          if (!e.loaded) this.setState(e, "failed", err.message);
      }
      throw err;
    }
    const targets =
      version !== undefined ? [this.versionOf(m, version)] : m.selected.map((v) => m.versions.get(v)!);
    if (version === undefined) {
      if (m.problem) {
        throw new TesseraError("E_MODEL_LOAD_FAILED", `model ${name} failed to load: ${m.problem}`, {
          model: name,
          reason: m.problem,
        });
      }
      for (const e of m.versions.values())
        if (!m.selected.includes(e.version) && (e.loaded || e.loading)) await this.unloadVersion(e);
      for (const [v, e] of m.versions)
        if (!existsSync(e.modelPath) && !e.loading) {
          await this.unloadVersion(e);
          m.versions.delete(v);
        }
    }
    const results = await Promise.allSettled(
      targets.map(async (e) => {
        if (e.loading) await e.loading.catch(() => {});
        if (e.unloading) await e.unloading;
        return this.startLoad(m, e);
      }),
    );
    const failed = results.flatMap((r, i) =>
      r.status === "rejected" ? [{ version: targets[i]!.version, reason: errMessage(r.reason) }] : [],
    );
    if (failed.length > 0) {
      throw new TesseraError("E_MODEL_LOAD_FAILED", failed.map((f) => f.reason).join("; "), {
        model: name,
        failed,
      });
    }
    return results.map((r) => (r as PromiseFulfilledResult<LoadedModel>).value);
  }

  /**
   * Unloads every loaded version of `name` (or just `version`); their sessions finish queued runs first. The
   * versions show as unavailable with reason "unloaded" and no longer count for `isReady` until loaded again.
   */
  async unload(name: string, version?: string): Promise<void> {
    this.checkName(name);
    const m = this.models.get(name) ?? (await this.scan(name)); // on disk but never looked up: nothing loaded
    if (!m)
      throw new TesseraError("E_MODEL_NOT_FOUND", `model ${JSON.stringify(name)} not found in ${this.root}`, {
        model: name,
      });
    if (version !== undefined) {
      const e = m.versions.get(version);
      if (!e) {
        throw new TesseraError(
          "E_MODEL_VERSION_NOT_FOUND",
          `model ${name}: version ${JSON.stringify(version)} does not exist`,
          {
            model: name,
            version,
          },
        );
      }
      e.unloadedByRequest = true;
      await this.unloadVersion(e, UNLOADED);
      return;
    }
    this.unloadedModels.add(name);
    for (const e of m.versions.values()) e.unloadedByRequest = true;
    await Promise.all([...m.versions.values()].map((e) => this.unloadVersion(e, UNLOADED)));
  }

  /**
   * Indexes the repository and loads every model. Failures are isolated: a failing model ends in state
   * failed with its reason (see `status`) and the others serve. Never throws for model problems.
   */
  async loadAll(): Promise<void> {
    await this.index();
    this.autoload = true;
    // A few models at a time: each load starts worker threads and ORT graph optimization.
    const queue = this.names();
    for (const name of queue) this.wanted.add(name);
    const lanes = Math.max(1, Math.min(4, availableParallelism()));
    await Promise.all(
      Array.from({ length: Math.min(lanes, queue.length) }, async () => {
        for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
          try {
            await this.load(name);
          } catch (err) {
            this.log.error({ model: name, reason: errMessage(err) }, "model not loaded");
          }
        }
      }),
    );
  }

  // ------------------------------------------------------------------------------------------------
  // Watching

  private startWatching(): void {
    try {
      this.watcher = watch(this.root, { recursive: true }, (_event, filename) => {
        if (!filename) return;
        const top = this.rootModel ?? String(filename).split(/[\\/]/)[0];
        if (!top || !MODEL_NAME_RE.test(top)) return;
        this.changed.add(top);
        if (this.watchTimer) clearTimeout(this.watchTimer);
        this.watchTimer = setTimeout(() => this.flushChanges(), this.opts.watchDebounceMs ?? 300);
      });
      this.watcher.on("error", (err) =>
        this.log.warn({ reason: errMessage(err) }, "model repository watcher error"),
      );
    } catch (err) {
      this.log.warn({ root: this.root, reason: errMessage(err) }, "cannot watch the model repository");
    }
  }

  private flushChanges(): void {
    this.watchTimer = undefined;
    const names = [...this.changed];
    this.changed.clear();
    this.watchChain = this.watchChain.then(async () => {
      for (const name of names) {
        if (this.closed) return;
        try {
          await this.applyChange(name);
        } catch (err) {
          this.log.warn({ model: name, reason: errMessage(err) }, "reload after file change failed");
        }
      }
      this.emit("reconciled", names);
    });
  }

  /** Brings one model in line with the disk after a change: reload changed served versions, drop removed ones. */
  private async applyChange(name: string): Promise<void> {
    const before = this.models.get(name);
    const wasActive =
      before !== undefined &&
      [...before.versions.values()].some((e) => e.loaded || e.loading || e.state === "failed");
    const m = await this.scan(name);
    if (!m) {
      if (before) {
        await Promise.all(
          [...before.versions.values()].map((e) => this.unloadVersion(e, "model folder removed")),
        );
        this.models.delete(name);
        this.log.info({ model: name }, "model folder removed; unloaded");
      }
      return;
    }
    if (!wasActive && !this.autoload) return;
    // Explicitly unloaded: it stays down until an explicit load, whatever changes on disk.
    if (!wasActive && this.unloadedModels.has(name)) return;
    if (m.configIssues) {
      for (const e of m.versions.values())
        if (!e.loaded)
          this.setState(e, "failed", this.status(name).find((s) => s.version === e.version)?.reason);
      return;
    }
    for (const e of [...m.versions.values()]) {
      if ((!m.selected.includes(e.version) || !existsSync(e.modelPath)) && (e.loaded || e.loading)) {
        await this.unloadVersion(e, "no longer served");
        if (!existsSync(e.modelPath)) m.versions.delete(e.version);
      }
    }
    await Promise.allSettled(
      m.selected.map(async (v) => {
        const e = m.versions.get(v)!;
        if (e.loading) await e.loading.catch(() => {});
        if (e.unloadedByRequest && !e.loaded) return; // unloaded on its own: stays down until a load
        const stamp = await versionStamp(e.modelPath, e.externalPaths);
        if (e.loaded && stamp === e.loadedStamp && e.loadedConfigStamp === m.configStamp) return;
        this.log.info({ model: name, version: v }, "model files changed; reloading");
        await this.startLoad(m, e);
      }),
    );
  }

  /** Stops watching and unloads every model. Further calls throw `E_REGISTRY_CLOSED`. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watcher?.close();
    if (this.watchTimer) clearTimeout(this.watchTimer);
    await this.watchChain.catch(() => {});
    await Promise.all(
      [...this.models.values()].flatMap((m) => [...m.versions.values()].map((e) => this.unloadVersion(e))),
    );
  }
}

/**
 * The model name for a repository root that is itself a Hugging Face model folder (tokenizer.json, and an onnx/
 * folder or a model.onnx at the top): the folder's name, with characters a model name cannot hold replaced by "-"
 * ("model" when nothing usable is left). Undefined for an ordinary repository.
 */
function hfFolderModelName(root: string): string | undefined {
  if (!existsSync(join(root, "tokenizer.json"))) return undefined;
  if (!existsSync(join(root, "onnx")) && !existsSync(join(root, "model.onnx"))) return undefined;
  const name = basename(root)
    .replace(/[^A-Za-z0-9._-]/g, "-")
    .replace(/^[^A-Za-z0-9]+/, "");
  return MODEL_NAME_RE.test(name) ? name : "model";
}
