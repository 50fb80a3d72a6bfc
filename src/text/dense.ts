/**
 * sentence-transformers `Dense` modules (modules.json entries after Pooling, e.g. LaBSE,
 * distiluse-base-multilingual, stella, EmbeddingGemma), applied to pooled vectors here when the
 * ONNX graph only returns token states (transformers.js / optimum feature-extraction exports):
 *
 *   <path>/config.json         {"in_features", "out_features", "bias", "activation_function"}
 *   <path>/model.safetensors   linear.weight [out, in], linear.bias [out]
 *
 *   y = activation(W x + b)    (f64 accumulation)
 *
 * Weights in pytorch_model.bin only (pickle) cannot be read: loading throws `E_TEXT_MODEL`.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { cast, loadSafetensors, type Tensor, TesseraError } from "../tensor/index.ts";

/**
 * Element-wise torch activations by class name (the last part of `torch.nn.modules.activation.Tanh`), as
 * sentence-transformers' Dense and CrossEncoder name them in their configs.
 */
export const TORCH_ACTIVATIONS: Readonly<Record<string, (x: number) => number>> = {
  Identity: (x) => x,
  Tanh: Math.tanh,
  ReLU: (x) => Math.max(x, 0),
  Sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  SiLU: (x) => x / (1 + Math.exp(-x)),
};

/** One loaded Dense layer. */
export interface DenseLayer {
  readonly path: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** The torch class name of the activation ("Tanh", "Identity", ...). */
  readonly activation: string;
  /** Applies the layer to one vector of `inFeatures`; returns a new Float32Array of `outFeatures`. */
  apply(x: Float32Array): Float32Array;
}

function modelError(message: string, facts: Record<string, unknown>): TesseraError {
  return new TesseraError("E_TEXT_MODEL", `Dense module ${message}`, facts);
}

function float32(t: Tensor | undefined, name: string, path: string): Float32Array {
  if (!t) throw modelError(`${path}/model.safetensors has no ${name}`, { path, tensor: name });
  const f = t.dtype === "float32" ? t : t.dtype === "float16" ? cast(t, "float32") : undefined;
  if (!f)
    throw modelError(`${path}/model.safetensors ${name} is ${t.dtype}; expected float32/float16`, { path });
  return f.contiguous().data as Float32Array;
}

/** Reads the Dense module at `dir/path`; throws `E_TEXT_MODEL` naming what is missing or unsupported. */
export function loadDense(dir: string, path: string): DenseLayer {
  const cfgPath = join(dir, path, "config.json");
  if (!existsSync(cfgPath)) throw modelError(`${path}/config.json is missing`, { path });
  const cfg = JSON.parse(readFileSync(cfgPath, "utf8")) as Record<string, unknown>;
  const inF = cfg.in_features;
  const outF = cfg.out_features;
  if (!Number.isInteger(inF) || !Number.isInteger(outF))
    throw modelError(`${path}/config.json needs integer in_features and out_features`, { path });
  const fn =
    typeof cfg.activation_function === "string"
      ? cfg.activation_function
      : "torch.nn.modules.activation.Tanh";
  const activation = fn.split(".").at(-1) as string;
  const act = TORCH_ACTIVATIONS[activation];
  if (!act)
    throw modelError(
      `${path}/config.json activation_function ${fn} is not supported (${Object.keys(TORCH_ACTIVATIONS).join(", ")})`,
      { path, activation: fn },
    );
  const weightsPath = join(dir, path, "model.safetensors");
  if (!existsSync(weightsPath))
    throw modelError(`${path}/model.safetensors is missing (pytorch_model.bin cannot be read)`, { path });
  const st = loadSafetensors(weightsPath, { bf16: "float32" });
  const w = float32(st.tensors.get("linear.weight"), "linear.weight", path);
  const n = inF as number;
  const m = outF as number;
  if (w.length !== n * m)
    throw modelError(`${path} linear.weight has ${w.length} values; expected ${m}×${n}`, { path });
  const useBias = cfg.bias !== false;
  const b = useBias ? float32(st.tensors.get("linear.bias"), "linear.bias", path) : undefined;
  if (b && b.length !== m)
    throw modelError(`${path} linear.bias has ${b.length} values; expected ${m}`, { path });
  return {
    path,
    inFeatures: n,
    outFeatures: m,
    activation,
    apply(x: Float32Array): Float32Array {
      if (x.length !== n)
        throw modelError(`${path} expects vectors of ${n}, got ${x.length}`, { path, got: x.length });
      const y = new Float32Array(m);
      for (let o = 0; o < m; o++) {
        let s = b ? (b[o] as number) : 0;
        const row = o * n;
        for (let i = 0; i < n; i++) s += (w[row + i] as number) * (x[i] as number);
        y[o] = act(s);
      }
      return y;
    },
  };
}
