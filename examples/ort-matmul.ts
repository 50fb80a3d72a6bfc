// Large matrix products on ONNX Runtime: `useOrtMatmul` registers a cached single-MatMul session (in a worker
// thread) behind `matmulAsync`, and with `sync: true` behind the synchronous `matmul` as well.
//   node --import tsx examples/ort-matmul.ts
import { useOrtMatmul } from "../src/runtime/index.ts";
import { matmul, matmulAsync, matmulBackendName, rng } from "../src/tensor/index.ts";

const g = rng(42);
const a = g.uniform([4, 256, 384]); // a batch of 4 matrices
const w = g.uniform([384, 128]); // one shared weight matrix

const ort = useOrtMatmul({ sync: true });
await ort.ready; // the sync worker has its session; until then `matmul` runs on the local WASM kernel
try {
  const y = await matmulAsync(a, w); // one ORT run: [4·256, 384] @ [384, 128]
  const z = matmul(a, w); // synchronous: one ORT call per batch matrix (this thread waits on Atomics.wait)
  let maxDiff = 0;
  const yd = y.data as Float32Array;
  const zd = z.data as Float32Array;
  for (let i = 0; i < yd.length; i++) maxDiff = Math.max(maxDiff, Math.abs(yd[i]! - zd[i]!));
  console.log(`matmulAsync: [${y.shape}] via ORT (${ort.stats.ort} run)`);
  console.log(`matmul: [${z.shape}] via ${matmulBackendName()} (${ort.stats.syncOrt} GEMMs)`);
  console.log(
    `small problems stay local: ${matmul(g.uniform([8, 8]), g.uniform([8, 8])).shape}, still ${ort.stats.syncOrt} GEMMs`,
  );
  console.log(`max |async - sync| = ${maxDiff.toExponential(1)}`);
} finally {
  await ort.close(); // unregisters both backends and stops the workers
}
console.log(`after close: matmul uses ${matmulBackendName()}`);
