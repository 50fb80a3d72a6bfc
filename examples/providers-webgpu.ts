// Uses the GPU when there is one (webgpu provider) and the CPU otherwise, with no code change: the session
// reports which provider it got and why it skipped the others. Also shows a rejected provider option.
// Run: node --import tsx examples/providers-webgpu.ts   (hide the Vulkan driver: VK_DRIVER_FILES=/none ...)
import { bertEncoder } from "../src/onnx/index.ts";
import { listProviders, normalizeProviders, openSession } from "../src/runtime/index.ts";
import { Tensor, TesseraError } from "../src/tensor/index.ts";

// 1. What this machine offers (each bundled provider is probed with a tiny session).
for (const p of await listProviders()) {
  console.log(`provider ${p.name.padEnd(8)} ${p.available ? "available" : `unavailable (${p.reason})`}`);
}

// 2. Prefer webgpu; cpu is appended as the last resort, so this never fails for lack of a GPU.
const model = bertEncoder({ vocabSize: 1000, hidden: 64, layers: 2, heads: 4 });
const session = await openSession(model.bytes, {
  providers: [{ name: "webgpu", options: { validationMode: "basic" } }],
  replicas: 1,
  label: "encoder",
});
try {
  console.log(`active provider: ${session.activeProvider}`);
  for (const f of session.providerFallbacks) console.log(`skipped ${f.provider}: ${f.reason}`);
  const ids = Tensor.wrap(BigInt64Array.from([101n, 7n, 8n, 102n, 0n, 0n]), [1, 6], "int64");
  const mask = Tensor.wrap(BigInt64Array.from([1n, 1n, 1n, 1n, 0n, 0n]), [1, 6], "int64");
  const types = Tensor.wrap(new BigInt64Array(6), [1, 6], "int64");
  const { outputs, inferMs } = await session.run({
    input_ids: ids,
    attention_mask: mask,
    token_type_ids: types,
  });
  const h = outputs.last_hidden_state!;
  console.log(
    `last_hidden_state [${h.shape.join(",")}] in ${inferMs.toFixed(1)} ms on ${session.activeProvider}`,
  );
} finally {
  await session.close();
}

// 3. Options are checked against what onnxruntime-node 1.30 accepts, before any session starts.
try {
  normalizeProviders([{ name: "webgpu", options: { enableGraphCapture: true } }]);
} catch (err) {
  if (!(err instanceof TesseraError)) throw err;
  console.log(`${err.code}: ${err.message}`);
}
