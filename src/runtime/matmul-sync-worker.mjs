// Worker for useOrtMatmul({ sync: true }): runs a 2-D single-MatMul ONNX Runtime session for a caller that
// blocks on a SharedArrayBuffer (Atomics.wait), so the synchronous `matmul` can use ORT. Plain JS (no tsx
// needed in the worker). Protocol (Int32Array `ctrl` over a SharedArrayBuffer, see matmul-backend.ts, whose STATE
// values arrive here as workerData.state):
//   ctrl[0] state: INIT → IDLE → RUN (set by the caller) → DONE | ERROR (set here) → IDLE (caller);
//           CLOSE (caller) ends the loop; DEAD when this thread exits.
//   ctrl[1..3] = M, N, K; ctrl[4] = generation of the data buffer. The caller posts each new data buffer on
//   `port` before bumping ctrl[4]; data holds a[M·K] | b[K·N] | c[M·N] (float32, row-major).
// ORT does not accept SharedArrayBuffer-backed tensors, so a and b are copied into local arrays (reused while
// the size stays the same) and ORT writes c into a preallocated local output, then c is copied back.
import { receiveMessageOnPort, workerData } from "node:worker_threads";
import * as ort from "onnxruntime-node";

const { model, intraOpThreads, ctrlBuffer, port, state } = workerData;
const { INIT, IDLE, RUN, DONE, ERROR, CLOSE, DEAD } = state;
const ctrl = new Int32Array(ctrlBuffer);
process.on("exit", () => {
  Atomics.store(ctrl, 0, DEAD);
  Atomics.notify(ctrl, 0);
});

let data = new Float32Array(0);
let gen = 0;
const local = { a: new Float32Array(0), b: new Float32Array(0), c: new Float32Array(0) };
const sized = (key, n) => {
  if (local[key].length !== n) local[key] = new Float32Array(n);
  return local[key];
};

function fail(message) {
  port.postMessage({ type: "error", message });
  Atomics.store(ctrl, 0, ERROR);
  Atomics.notify(ctrl, 0);
}

let session;
try {
  session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: intraOpThreads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    logSeverityLevel: 4,
  });
} catch (err) {
  fail(`session create: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
// INIT → IDLE, unless the caller already asked to CLOSE
Atomics.compareExchange(ctrl, 0, INIT, IDLE);
Atomics.notify(ctrl, 0);

for (;;) {
  let st = Atomics.load(ctrl, 0);
  while (st !== RUN && st !== CLOSE) {
    Atomics.wait(ctrl, 0, st);
    st = Atomics.load(ctrl, 0);
  }
  if (st === CLOSE) break;
  try {
    for (let spins = 0; gen !== Atomics.load(ctrl, 4); spins++) {
      const m = receiveMessageOnPort(port);
      if (m === undefined) {
        // posted before the bump, so it arrives momentarily
        if (spins > 1e6) throw new Error(`data buffer generation ${Atomics.load(ctrl, 4)} never arrived`);
        continue;
      }
      data = new Float32Array(m.message.buffer);
      gen = m.message.gen;
    }
    const M = ctrl[1];
    const N = ctrl[2];
    const K = ctrl[3];
    const a = sized("a", M * K);
    const b = sized("b", K * N);
    const c = sized("c", M * N);
    a.set(data.subarray(0, M * K));
    b.set(data.subarray(M * K, M * K + K * N));
    await session.run(
      { a: new ort.Tensor("float32", a, [M, K]), b: new ort.Tensor("float32", b, [K, N]) },
      { c: new ort.Tensor("float32", c, [M, N]) },
      { logSeverityLevel: 4 },
    );
    data.set(c, M * K + K * N);
    Atomics.store(ctrl, 0, DONE);
    Atomics.notify(ctrl, 0);
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
}
await session.release();
port.close();
