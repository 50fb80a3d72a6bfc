/**
 * Shared pieces of the model zoo: the result type every factory returns, seeded weight helpers, and the
 * metadata every zoo model carries.
 */
import { type DType, type Generator, rng, type Tensor } from "../../tensor/index.ts";
import type { Dim, GraphBuilder } from "../builder.ts";
import { buildError } from "../errors.ts";

/** One graph input or output of a zoo model. */
export interface ZooTensorSpec {
  readonly name: string;
  readonly dtype: DType;
  readonly dims: readonly Dim[];
}

/**
 * What a zoo factory returns: the encoded model plus everything needed to recompute its outputs in plain
 * JS (the resolved config and every weight, by initializer name).
 */
export interface ZooModel<C> {
  /** Factory name, e.g. "mlp-classifier". Also stored as metadata `tessera.zoo`. */
  readonly name: string;
  /** The `.onnx` bytes. */
  readonly bytes: Uint8Array;
  /** The config with all defaults filled in. */
  readonly config: Readonly<C>;
  /** Weights by initializer name (float32, contiguous). The model bytes hold copies of them. */
  readonly weights: Readonly<Record<string, Tensor<"float32">>>;
  readonly inputs: readonly ZooTensorSpec[];
  readonly outputs: readonly ZooTensorSpec[];
  /** The model's metadata_props. */
  readonly metadata: Readonly<Record<string, string>>;
}

/** Draws weights in a fixed order from one seeded generator and registers them as initializers. */
export class WeightMaker {
  private readonly gen: Generator;
  readonly weights: Record<string, Tensor<"float32">> = {};

  constructor(
    private readonly g: GraphBuilder,
    seed: number,
  ) {
    this.gen = rng(seed);
  }

  /** N(mean, std) weights of `shape`, added as initializer `name`; returns the name. */
  normal(name: string, shape: readonly number[], std: number, mean = 0): string {
    const t = this.gen.normal(shape, { std, mean, dtype: "float32" }) as Tensor<"float32">;
    this.weights[name] = t;
    return this.g.initializer(name, t);
  }
}

/** Adds the metadata every zoo model carries and returns it. */
export function zooMetadata(
  g: GraphBuilder,
  name: string,
  description: string,
  config: object,
): Record<string, string> {
  const meta: Record<string, string> = {
    "tessera.synthetic": "true",
    "tessera.zoo": name,
    "tessera.config": JSON.stringify(config),
    description,
  };
  for (const [k, v] of Object.entries(meta)) g.metadata(k, v);
  return meta;
}

/** Declares the graph inputs/outputs of `specs` on `g`. */
export function declare(g: GraphBuilder, kind: "input" | "output", specs: readonly ZooTensorSpec[]): void {
  for (const s of specs) g[kind](s.name, s.dtype, s.dims);
}

/** Checks that a config value is a positive integer (throws E_ONNX_BUILD otherwise). */
export function positiveInt(factory: string, field: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1) {
    throw buildError(`${factory}: ${field} must be a positive integer, got ${v}`, {
      factory,
      field,
      value: v,
    });
  }
  return v;
}
