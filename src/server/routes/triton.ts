/**
 * Triton's `model_configuration` and `statistics` extensions over HTTP, so `tritonclient.http`'s
 * `get_model_config()` / `get_inference_statistics()` and perf_analyzer work unchanged:
 *   GET /v2/models/{m}[/versions/{v}]/config        → Triton's ModelConfig as JSON
 *   GET /v2/models[/{m}[/versions/{v}]]/stats        → {"model_stats": [$model_stat, ...]}
 */
import { basename } from "node:path";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { unbatchableReason } from "../../batching/index.ts";
import type { BatchingConfig, LoadedModel, ProviderName, ProviderSpec } from "../../runtime/index.ts";
import type { RouteContext } from "../context.ts";
import type { Datatype } from "../protocol/index.ts";
import type { ModelStat } from "../stats.ts";
import { protocolTensor } from "../tensors.ts";
import { resolveModel } from "./v2.ts";

/** Triton's model-config data type for a protocol datatype: `TYPE_` + name, except BYTES → `TYPE_STRING`. */
export function tritonDataType(datatype: Datatype): string {
  return datatype === "BYTES" ? "TYPE_STRING" : `TYPE_${datatype}`;
}

/**
 * Whether the server batches the model (the rule ModelBatcher enforces, `unbatchableReason`): such a model runs
 * through its dynamic batcher and reports `max_batch_size` > 0; any other runs unbatched (Triton's
 * `max_batch_size: 0`, dims as the graph declares them).
 */
export function hasBatchDim(m: LoadedModel): boolean {
  return unbatchableReason(m.description) === undefined;
}

const GPU_DEVICE_PROVIDERS: ReadonlySet<ProviderName> = new Set(["cuda", "tensorrt", "dml"]);

/** What `tritonModelConfig` needs besides the model. */
export interface TritonConfigContext {
  /** The batcher settings the model version runs with (ModelHost.batchingOf). */
  readonly batching: BatchingConfig;
  /** The server's request deadline (ms): Triton's default queue timeout. */
  readonly requestTimeoutMs: number;
  /** The server-wide provider list (a model's config.json `providers` wins). */
  readonly providers?: readonly ProviderSpec[];
  /** Whether the server batches the model's requests (ModelHost.batches); default `hasBatchDim(m)`. */
  readonly batched?: boolean;
}

/**
 * The model's configuration as Triton prints it for `GET /v2/models/{m}/config` (model_config.proto's JSON
 * field names, 64-bit numbers as JSON numbers as Triton writes them). Filled from what Tessera knows:
 * - `max_batch_size`: the batcher's `maxBatchSize` when the model has a batch dim on every input (see
 *   `hasBatchDim`), else 0; with a batch dim, `dims` leave it out (Triton's convention). Symbolic dims are -1.
 * - `dynamic_batching` (batched models only): `max_queue_delay_microseconds` from `maxQueueDelayMs`;
 *   `priority_levels: 2` (request parameter `priority: 1` is high, the default is level 2);
 *   `default_queue_policy.default_timeout_microseconds` is the server's request deadline, which in Tessera
 *   also covers the run, not only the queue; `max_queue_size` is `maxQueueSize`.
 * - `instance_group`: one group, `count` = session replicas, `KIND_CPU` on the CPU provider, `KIND_GPU` otherwise
 *   (with `gpus: [deviceId]` for cuda, tensorrt and dml).
 * - `parameters` (string values): the active `provider`, the model file's `sha256`, and `labels` (a JSON array)
 *   when config.json has labels; outputs carry `label_filename: ""` since there is no label file.
 * - `optimization` is left out: Tessera does not expose ORT's graph-level settings in Triton's terms.
 */
export function tritonModelConfig(m: LoadedModel, c: TritonConfigContext): Record<string, unknown> {
  const batched = c.batched ?? hasBatchDim(m);
  const maxBatchSize = batched ? c.batching.maxBatchSize : 0;
  const dims = (shape: readonly number[]) => (batched && shape.length > 0 ? shape.slice(1) : shape.slice());
  const provider = m.session.activeProvider;
  const gpu = provider !== "cpu";
  const parameters: Record<string, { string_value: string }> = {
    provider: { string_value: provider },
    sha256: { string_value: m.description.sha256 },
  };
  if (m.config.labels) parameters.labels = { string_value: JSON.stringify(m.config.labels) };
  return {
    name: m.name,
    platform: "onnxruntime_onnx",
    backend: "onnxruntime",
    runtime: "",
    version_policy: versionPolicy(m.config.versionPolicy),
    max_batch_size: maxBatchSize,
    input: m.description.inputs.map(protocolTensor).map((s) => ({
      name: s.name,
      data_type: tritonDataType(s.datatype),
      format: "FORMAT_NONE",
      dims: dims(s.shape),
      is_shape_tensor: false,
      allow_ragged_batch: false,
      optional: false,
    })),
    output: m.description.outputs.map(protocolTensor).map((s) => ({
      name: s.name,
      data_type: tritonDataType(s.datatype),
      dims: dims(s.shape),
      label_filename: "",
      is_shape_tensor: false,
    })),
    batch_input: [],
    batch_output: [],
    ...(batched
      ? {
          dynamic_batching: {
            preferred_batch_size: [],
            max_queue_delay_microseconds: Math.round(c.batching.maxQueueDelayMs * 1000),
            preserve_ordering: false,
            priority_levels: 2,
            default_priority_level: 2,
            default_queue_policy: {
              timeout_action: "REJECT",
              default_timeout_microseconds: Math.round(c.requestTimeoutMs * 1000),
              allow_timeout_override: true,
              max_queue_size: c.batching.maxQueueSize,
            },
            priority_queue_policy: {},
          },
        }
      : {}),
    instance_group: [
      {
        name: m.name,
        kind: gpu ? "KIND_GPU" : "KIND_CPU",
        count: m.session.replicas,
        gpus: gpu && GPU_DEVICE_PROVIDERS.has(provider) ? [deviceIdOf(m, provider, c.providers)] : [],
        secondary_devices: [],
        profile: [],
        passive: false,
        host_policy: "",
      },
    ],
    default_model_filename: basename(m.modelPath),
    cc_model_filenames: {},
    metric_tags: {},
    parameters,
    model_warmup: [],
    model_transaction_policy: { decoupled: false },
  };
}

type VersionPolicy = LoadedModel["config"]["versionPolicy"];

function versionPolicy(p: VersionPolicy): Record<string, unknown> {
  if (p === undefined || p === "latest") return { latest: { num_versions: 1 } };
  if (p === "all") return { all: {} };
  if ("latest" in p) return { latest: { num_versions: p.latest } };
  return { specific: { versions: [...p.specific] } };
}

/** The device id of the provider the session runs on (config.json's provider spec, the server's, else 0). */
function deviceIdOf(m: LoadedModel, provider: ProviderName, server: readonly ProviderSpec[] = []): number {
  const specs = [...(m.config.providers ?? []), ...server];
  for (const s of specs) {
    if (typeof s !== "string" && s.name === provider) {
      const id = s.options?.deviceId;
      if (typeof id === "number") return id;
    }
  }
  return 0;
}

interface ModelParams {
  model: string;
  version?: string;
}

export function registerTritonRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { models, registry } = ctx;

  const config = async (req: FastifyRequest<{ Params: ModelParams }>) => {
    const m = await resolveModel(ctx, req, req.params.model, req.params.version);
    return tritonModelConfig(m, {
      batching: models.batchingOf(m),
      requestTimeoutMs: ctx.config.requestTimeoutMs,
      batched: models.batches(m),
      ...(ctx.config.providers ? { providers: ctx.config.providers } : {}),
    });
  };
  app.get("/v2/models/:model/config", config);
  app.get("/v2/models/:model/versions/:version/config", config);

  /**
   * Stats of the serving versions among `versions`: ready ones, and ones reloading (the previous load serves
   * meanwhile); a version that unloads meanwhile is skipped.
   */
  const statsOf = (versions: readonly { name: string; version: string; state: string }[]): ModelStat[] => {
    const out: ModelStat[] = [];
    for (const s of versions) {
      if (s.state !== "ready" && s.state !== "loading") continue;
      try {
        out.push(models.statsOf(registry.tryGet(s.name, s.version)));
      } catch {
        // unloaded between the listing and now
      }
    }
    return out;
  };

  // Every ready version of every model, as Triton answers without a name.
  app.get("/v2/models/stats", async () => ({ model_stats: statsOf(await registry.index()) }));

  // Every ready version of one model: 404 unknown, 503 when no version is ready (like the metadata route).
  app.get("/v2/models/:model/stats", async (req: FastifyRequest<{ Params: ModelParams }>) => {
    const name = req.params.model;
    await resolveModel(ctx, req, name, undefined); // checks the name too
    return { model_stats: statsOf(await registry.status(name)) };
  });

  app.get(
    "/v2/models/:model/versions/:version/stats",
    async (req: FastifyRequest<{ Params: ModelParams }>) => {
      const m = await resolveModel(ctx, req, req.params.model, req.params.version);
      return { model_stats: [models.statsOf(m)] };
    },
  );
}
