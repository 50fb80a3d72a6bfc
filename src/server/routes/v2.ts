/**
 * Open Inference Protocol v2 REST: health, server and model metadata, model ready, infer
 * (with and without `/versions/{v}`), JSON and Triton binary tensor data.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { LoadedModel } from "../../runtime/index.ts";
import { TesseraError } from "../../tensor/index.ts";
import { clientGoneSignal } from "../client-gone.ts";
import type { RouteContext } from "../context.ts";
import { requestInvalid } from "../errors.ts";
import { parseInferRequest, parseRawRequest, type RawInputSpec } from "../protocol/index.ts";
import {
  checkRequestedOutputs,
  protocolTensor,
  requestRows,
  toModelInputs,
  toResponseOutputs,
} from "../tensors.ts";
import { serializeInferResponse } from "../protocol/response.ts";

/** Codes of a name the repository does not have: such requests are not labelled with the name in metrics. */
const UNKNOWN_MODEL_CODES = new Set(["E_MODEL_NOT_FOUND", "E_MODEL_NAME_INVALID"]);

/** Extensions this server implements, as advertised in `GET /v2`. */
export const EXTENSIONS = [
  "binary_tensor_data",
  "classification",
  "model_repository",
  "schedule_policy",
  "parameters",
  "model_configuration",
  "statistics",
] as const;

export const SERVER_NAME = "tessera";
export const SERVER_VERSION = "0.1.0";

interface ModelParams {
  model: string;
  version?: string;
}

export function stateName(state: string): string {
  return state === "failed" ? "UNAVAILABLE" : state.toUpperCase();
}

/** `$metadata_model_response` for a loaded model. */
export function modelMetadata(m: LoadedModel, versions: readonly string[]): Record<string, unknown> {
  const d = m.description;
  const properties: Record<string, string> = {
    provider: m.session.activeProvider,
    sha256: d.sha256,
    producer: d.producer,
  };
  if (m.config.description) properties.description = m.config.description;
  if (d.metadata["tessera.synthetic"] === "true") properties.synthetic = "true";
  if (d.metadata.description) properties.model_description = d.metadata.description;
  if (m.config.labels) properties.labels = JSON.stringify(m.config.labels);
  // Providers tried before the active one, and why each failed (properties are strings in the protocol).
  if (m.session.providerFallbacks.length > 0)
    properties.provider_fallbacks = JSON.stringify(m.session.providerFallbacks);
  return {
    name: m.name,
    versions,
    platform: "onnx_onnxv1",
    inputs: d.inputs.map(protocolTensor),
    outputs: d.outputs.map(protocolTensor),
    properties,
  };
}

/** The single input a raw binary request feeds (Triton: only for single-input models). */
function rawInputSpec(m: LoadedModel): RawInputSpec {
  const inputs = m.description.inputs;
  if (inputs.length !== 1) {
    throw requestInvalid([
      {
        path: "Inference-Header-Content-Length",
        message: `a raw binary request (header length 0) needs a model with one input; ${m.name} has ${inputs.length} (${inputs.map((i) => i.name).join(", ")})`,
      },
    ]);
  }
  return protocolTensor(inputs[0]!);
}

const EMPTY = Buffer.alloc(0);

function headerString(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Finds the model for a per-model route (404 unknown, 503 not ready) and labels the request with its name for
 * metrics, but only when the repository has that name: names from the URL would otherwise let a scanner grow
 * the series without bound.
 */
export async function resolveModel(
  ctx: RouteContext,
  req: FastifyRequest,
  name: string,
  version: string | undefined,
): Promise<LoadedModel> {
  try {
    const m = await ctx.models.model(name, version);
    req.tesseraModel = name;
    return m;
  } catch (err) {
    if (err instanceof TesseraError && !UNKNOWN_MODEL_CODES.has(err.code)) req.tesseraModel = name;
    throw err;
  }
}

export function registerV2Routes(app: FastifyInstance, ctx: RouteContext): void {
  const { models, config, lifecycle } = ctx;

  app.get("/v2/health/live", async () => ({ live: true }));

  app.get("/v2/health/ready", async (_req, reply) => {
    const ready = !lifecycle.stopping && models.isReady();
    if (!ready) {
      reply.code(503);
      return {
        ready: false,
        reason: lifecycle.stopping ? "draining" : models.startupDone ? "models not ready" : "loading models",
      };
    }
    return { ready: true };
  });

  app.get("/v2", async () => ({ name: SERVER_NAME, version: SERVER_VERSION, extensions: EXTENSIONS }));

  const resolve = (req: FastifyRequest, name: string, version: string | undefined) =>
    resolveModel(ctx, req, name, version);

  const metadata = async (req: FastifyRequest<{ Params: ModelParams }>) => {
    const { model, version } = req.params;
    const m = await resolve(req, model, version);
    const versions = (await ctx.registry.status(model)).map((s) => s.version);
    return modelMetadata(m, versions);
  };
  app.get("/v2/models/:model", metadata);
  app.get("/v2/models/:model/versions/:version", metadata);

  const ready = async (req: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
    const { model, version } = req.params;
    try {
      await resolve(req, model, version);
      return { name: model, ...(version ? { version } : {}), ready: true };
    } catch (err) {
      if (err instanceof TesseraError && err.code === "E_MODEL_NOT_READY") {
        reply.code(503);
        return { name: model, ...(version ? { version } : {}), ready: false, error: err.message };
      }
      throw err;
    }
  };
  app.get("/v2/models/:model/ready", ready);
  app.get("/v2/models/:model/versions/:version/ready", ready);

  const infer = async (req: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
    const { model: name, version } = req.params;
    let model = models.modelNow(name, version);
    if (model === undefined) model = await resolve(req, name, version);
    else req.tesseraModel = name;
    const body = Buffer.isBuffer(req.body) ? req.body : EMPTY;
    const headerLength = headerString(req.headers["inference-header-content-length"]);
    const parsed =
      headerLength?.trim() === "0"
        ? parseRawRequest(body, rawInputSpec(model))
        : parseInferRequest(body, headerLength, ctx.bodies.alloc);
    if (!parsed.ok) throw requestInvalid(parsed.issues);
    const request = parsed.value;
    // Rows are the first dim of a batched model; a model that runs unbatched (no batch dim, `"batching": false`,
    // outputs not batch-major) bounds its inputs itself.
    const rows = requestRows(request);
    if (rows > config.maxItemsPerRequest && models.batches(model)) {
      throw new TesseraError(
        "E_TOO_MANY_ITEMS",
        `request has ${rows} rows (first dimension); this server takes at most ${config.maxItemsPerRequest} per request`,
        { rows, limit: config.maxItemsPerRequest },
      );
    }
    const inputs = toModelInputs(request, model.description);
    checkRequestedOutputs(request, model.description);

    let timeoutMs = config.requestTimeoutMs;
    const t = request.parameters.timeout;
    if (typeof t === "number" && t > 0) timeoutMs = Math.min(timeoutMs, t / 1000);
    const priority = request.parameters.priority === 1 ? "high" : "normal";
    // Aborted by the request's 'close' listener (app.ts) if the client goes away.
    const signal = clientGoneSignal(req);
    const result = await models.infer(model, inputs, {
      signal,
      deadline: Date.now() + timeoutMs,
      priority,
      ...(request.outputs ? { outputs: request.outputs.map((o) => o.name) } : {}),
    });
    req.tesseraAbort = null;
    // The batch copied the inputs before it ran (and its answer came back), so nothing reads the body or the
    // arrays parsed from it any more: their pool memory serves the next requests.
    ctx.bodies.give(body);
    for (const input of request.inputs) if (!Array.isArray(input.data)) ctx.bodies.give(input.data);
    const outputs = toResponseOutputs(request, model.description, result.outputs, model.config.labels);
    const s = serializeInferResponse({
      model_name: model.name,
      model_version: model.version,
      ...(request.id !== undefined ? { id: request.id } : {}),
      outputs,
    });
    reply.header("content-type", s.contentType);
    if (s.headerLength !== undefined) reply.header("inference-header-content-length", String(s.headerLength));
    reply.header("x-tessera-queue-ms", result.queueMs.toFixed(2));
    reply.header("x-tessera-batch-size", String(result.batchSize));
    return reply.send(s.body);
  };
  app.post("/v2/models/:model/infer", infer);
  app.post("/v2/models/:model/versions/:version/infer", infer);
}
