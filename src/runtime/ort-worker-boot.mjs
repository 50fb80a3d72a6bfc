// Worker bootstrap: registers tsx in this worker thread, then loads the TypeScript worker entry.
// (On Node 20, `--import tsx` in a Worker's execArgv does not make .ts files loadable there.)
import { register } from "tsx/esm/api";

register();
await import("./ort-worker.ts");
