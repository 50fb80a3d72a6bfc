/**
 * The inference server: Open Inference Protocol v2 over HTTP (Fastify), with the Triton binary tensor
 * and model repository extensions, Prometheus metrics, API keys and graceful drain.
 */
export { type BuildAppOptions, buildApp, type TesseraDecorations } from "./app.ts";
export {
  CONFIG_FIELDS,
  type ConfigSources,
  DEFAULT_CONFIG,
  type LogLevel,
  resolveServerConfig,
  type ServerConfig,
} from "./config.ts";
export type { Lifecycle, RouteContext, RoutePlugin } from "./context.ts";
export { HTTP_STATUS, type HttpError, httpErrorOf, requestInvalid } from "./errors.ts";
export { ServerMetrics } from "./metrics.ts";
export { checkModelName, ModelHost, type RegistryPort } from "./models.ts";
export * from "./protocol/index.ts";
export { EXTENSIONS } from "./routes/v2.ts";
export { DEMO_MLP_LABELS, demoModels, ensureDemoRepository } from "./demo.ts";
export { type RunningServer, type StartServerOptions, startServer } from "./start.ts";
export { toModelInputs, toResponseOutputs } from "./tensors.ts";
