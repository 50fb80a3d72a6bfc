/** Model repository extension: index, load, unload (API key required when keys are configured). */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { TesseraError } from "../../tensor/index.ts";
import type { RouteContext } from "../context.ts";
import { requestInvalid } from "../errors.ts";
import { parseParameters } from "../protocol/index.ts";
import type { Issue } from "../protocol/index.ts";
import { stateName } from "./v2.ts";

function jsonBody(req: FastifyRequest): Record<string, unknown> {
  const b = req.body;
  if (!Buffer.isBuffer(b) || b.byteLength === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(b.toString("utf8"));
  } catch (e) {
    throw requestInvalid([{ path: "", message: `malformed JSON: ${(e as Error).message}` }]);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw requestInvalid([{ path: "", message: "body must be a JSON object" }]);
  return v as Record<string, unknown>;
}

function checkLoadParameters(body: Record<string, unknown>): void {
  const issues: Issue[] = [];
  const params = parseParameters(body.parameters, "parameters", issues);
  for (const k of Object.keys(params)) {
    if (k === "config" || k.startsWith("file:")) {
      issues.push({
        path: `parameters.${k}`,
        message:
          "overriding a model's config or files over HTTP is not supported; edit the repository and load again",
      });
    } else if (k !== "unload_dependents") {
      issues.push({ path: `parameters.${k}`, message: "unknown parameter" });
    }
  }
  if (issues.length) throw requestInvalid(issues);
}

export function registerRepositoryRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.post("/v2/repository/index", async (req) => {
    const body = jsonBody(req);
    if (body.ready !== undefined && typeof body.ready !== "boolean") {
      throw requestInvalid([{ path: "ready", message: "ready must be a boolean" }]);
    }
    const all = await ctx.registry.index();
    return all
      .filter((s) => body.ready !== true || s.state === "ready")
      .map((s) => ({ name: s.name, version: s.version, state: stateName(s.state), reason: s.reason ?? "" }));
  });

  app.post<{ Params: { model: string } }>("/v2/repository/models/:model/load", async (req) => {
    checkLoadParameters(jsonBody(req));
    try {
      await ctx.models.load(req.params.model);
      req.tesseraModel = req.params.model; // labelled only once the name is known to exist
    } catch (err) {
      // Triton answers a failed explicit load with 400 and the reason; infer on such a model gets 503.
      if (err instanceof TesseraError && err.code === "E_MODEL_LOAD_FAILED")
        throw new TesseraError("E_MODEL_LOAD_REJECTED", err.message, err.facts);
      throw err;
    }
    return {};
  });

  app.post<{ Params: { model: string } }>("/v2/repository/models/:model/unload", async (req) => {
    checkLoadParameters(jsonBody(req));
    const states = await ctx.registry.status(req.params.model);
    if (states.length === 0) {
      throw new TesseraError(
        "E_MODEL_NOT_FOUND",
        `model ${JSON.stringify(req.params.model)} is not in the repository`,
        {
          model: req.params.model,
        },
      );
    }
    req.tesseraModel = req.params.model;
    await ctx.models.unload(req.params.model);
    return {};
  });
}
