/** The default registry for a server: a ModelRegistry over `config.modelsDir`. */
import type { Logger } from "pino";
import { ModelRegistry } from "../runtime/index.ts";
import type { ServerConfig } from "./config.ts";
import type { RegistryPort } from "./models.ts";

export async function createRegistry(config: ServerConfig, logger: Logger): Promise<RegistryPort> {
  return new ModelRegistry({
    root: config.modelsDir,
    sessionDefaults: config.providers ? { providers: config.providers } : {},
    logger: logger.child({ component: "registry" }),
  });
}
