/**
 * Worker-thread entry: owns one onnxruntime-node session and runs it off the main thread.
 * onnxruntime-node's run() blocks its calling thread for the whole computation, so it only ever
 * happens here. Messages are handled one at a time, in order (see worker-protocol.ts).
 */
import { parentPort } from "node:worker_threads";
import * as ort from "onnxruntime-node";
import { fromWire, ortToWire, toOrtTensor, type WireTensor } from "./ort-interop.ts";
import { createWithFallback, toOrtExecutionProviders } from "./providers.ts";
import type { ProviderName, ProviderSpec } from "./session.ts";
import type { FromWorker, ToWorker, WireValueMeta, WorkerInit } from "./worker-protocol.ts";

const port = parentPort;
if (!port) throw new Error("ort-worker.ts must run in a worker thread");

// ORT's process-wide logger would print a failed provider (e.g. cuda's "Failed to load library ...") to stderr as
// raw lines, in the middle of a server's JSON logs; every failure here is returned instead (providerFallbacks,
// E_SESSION_CREATE, E_ORT_RUN). Set before this thread creates a session.
ort.env.logLevel = "fatal";

let session: ort.InferenceSession | undefined;
/** ORT would also print run errors to stderr; they are returned (and wrapped) instead. */
const RUN_OPTIONS: ort.InferenceSession.RunOptions = { logSeverityLevel: 4 };
let queue: Promise<void> = Promise.resolve();

function post(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(msg, transfer);
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function sessionOptions(init: WorkerInit, p: ProviderSpec): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: toOrtExecutionProviders(p),
    intraOpNumThreads: init.intraOpThreads,
    ...(init.interOpThreads !== undefined ? { interOpNumThreads: init.interOpThreads } : {}),
    graphOptimizationLevel: init.graphOptimization,
    ...(init.optimizedModelFilePath ? { optimizedModelFilePath: init.optimizedModelFilePath } : {}),
    logSeverityLevel: 4,
    // Session config entries (ORT's "extra" options): session.intra_op.allow_spinning, and where an optimized
    // model written for the cache keeps its weights (session.optimized_model_external_initializers_file_name).
    extra: {
      session: {
        intra_op: { allow_spinning: init.intraOpSpinning ? "1" : "0" },
        ...(init.optimizedModelFilePath && init.optimizedModelDataFile
          ? { optimized_model_external_initializers_file_name: init.optimizedModelDataFile }
          : {}),
      },
    },
  };
}

function meta(list: readonly ort.InferenceSession.ValueMetadata[]): WireValueMeta[] {
  return list.map((m) =>
    m.isTensor
      ? { name: m.name, isTensor: true, type: m.type, shape: [...m.shape] }
      : { name: m.name, isTensor: false },
  );
}

async function handleInit(init: WorkerInit): Promise<void> {
  const t0 = performance.now();
  try {
    const created = await createWithFallback(init.providers, (p) => {
      const opts = sessionOptions(init, p);
      return "path" in init.model
        ? ort.InferenceSession.create(init.model.path, opts)
        : ort.InferenceSession.create(init.model.bytes, opts);
    });
    session = created.value;
    post({
      type: "ready",
      activeProvider: created.active,
      fallbacks: created.fallbacks,
      inputs: meta(session.inputMetadata),
      outputs: meta(session.outputMetadata),
      initMs: performance.now() - t0,
    });
  } catch (err) {
    const attempts = (err as { facts?: { attempts?: unknown } }).facts?.attempts;
    const fallbacks = Array.isArray(attempts)
      ? (attempts as { provider: ProviderName; reason: string }[])
      : [];
    post({ type: "init-error", message: errMessage(err), fallbacks });
  }
}

async function handleRun(
  id: number,
  inputs: Readonly<Record<string, WireTensor>>,
  outputs?: readonly string[],
): Promise<void> {
  if (!session) {
    post({ type: "run-error", id, message: "session is not initialised" });
    return;
  }
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const [name, w] of Object.entries(inputs)) feeds[name] = toOrtTensor(fromWire(w));
    const t0 = performance.now();
    const result =
      outputs && outputs.length > 0
        ? await session.run(feeds, [...outputs], RUN_OPTIONS)
        : await session.run(feeds, RUN_OPTIONS);
    const inferMs = performance.now() - t0;
    const transfer: ArrayBuffer[] = [];
    const out: Record<string, WireTensor> = {};
    for (const [name, value] of Object.entries(result)) out[name] = ortToWire(value as ort.Tensor, transfer);
    post({ type: "result", id, outputs: out, inferMs }, transfer);
  } catch (err) {
    post({ type: "run-error", id, message: errMessage(err) });
  }
}

port.on("message", (msg: ToWorker) => {
  // Chain every message so that init, runs and close happen strictly in arrival order.
  queue = queue.then(async () => {
    switch (msg.type) {
      case "init":
        await handleInit(msg.init);
        break;
      case "run":
        await handleRun(msg.id, msg.inputs, msg.outputs);
        break;
      case "close":
        await session?.release();
        session = undefined;
        post({ type: "closed" });
        port.close();
        break;
      case "crash":
        process.exit(msg.code);
    }
  });
});
