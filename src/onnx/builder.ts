/**
 * GraphBuilder: writes ONNX models from TypeScript.
 *
 * Invariants the builder keeps (each violation throws `E_ONNX_BUILD` at the call that causes it):
 *  1. Every value name is defined once in the whole model (graph inputs, initializers, node outputs; subgraphs
 *     included, since ONNX forbids shadowing an outer name).
 *  2. A node may only read names already defined in its graph or an enclosing one ("" marks an omitted
 *     optional input), so nodes are added in topological order, as ONNX requires.
 *  3. A node's domain must be imported (`opset` for the default domain, `domainOpsets` for others).
 *  4. Every declared graph output is produced by something when the graph is encoded.
 *
 * @example
 * const g = new GraphBuilder({ name: "affine", opset: 17 });
 * g.input("x", "float32", ["batch", 4]);
 * const w = g.initializer("w", tensor([[1], [2], [3], [4]]));
 * g.node("MatMul", ["x", w], ["y"]);
 * g.output("y", "float32", ["batch", 1]);
 * const bytes = g.toBytes(); // load with onnxruntime-node: InferenceSession.create(bytes)
 */
import { type DType, isDType, type Tensor } from "../tensor/index.ts";
import { type Attributes, encodeAttribute, type GraphLike } from "./attributes.ts";
import { onnxDataType } from "./dtypes.ts";
import { buildError } from "./errors.ts";
import type {
  GraphProto,
  ModelProto,
  NodeProto,
  StringStringEntryProto,
  TensorProto,
  ValueInfoProto,
} from "./proto-types.ts";
import { ModelProtoType } from "./schema.ts";
import { tensorToProto } from "./tensor-proto.ts";

/** A dimension: a fixed size, a symbolic name (`"batch"`), or unknown (`null`). */
export type Dim = number | string | null;

export interface GraphBuilderOptions {
  /** Graph name (default "graph"). */
  readonly name?: string;
  /** Opset of the default ONNX domain (default 17). */
  readonly opset?: number;
  /** Opsets of other domains, e.g. `{ "com.microsoft": 1 }`. */
  readonly domainOpsets?: Readonly<Record<string, number>>;
  /** ModelProto.producer_name (default "tessera"). */
  readonly producer?: string;
  readonly producerVersion?: string;
  /** IR version; by default the one that goes with `opset` (opset 17 → IR 8). */
  readonly irVersion?: number;
  readonly docString?: string;
  readonly modelVersion?: number;
}

export interface NodeOptions {
  /** Operator domain: "" (default ONNX) or e.g. "com.microsoft". */
  readonly domain?: string;
  /** Node name (default: `<opType>_<n>`). */
  readonly name?: string;
  readonly docString?: string;
}

/** ONNX IR version released with each default-domain opset (onnx/docs/Versioning.md). */
export function irVersionForOpset(opset: number): number {
  if (opset <= 8) return 3;
  if (opset === 9) return 4;
  if (opset === 10) return 5;
  if (opset === 11) return 6;
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 22) return 10;
  return 11;
}

/** Names and counters shared by a root graph and its subgraphs. */
interface ModelScope {
  readonly names: Set<string>;
  readonly counters: Map<string, number>;
  readonly opsets: Map<string, number>;
}

function checkName(kind: string, name: unknown): string {
  if (typeof name !== "string" || name.length === 0) {
    throw buildError(`${kind}: name must be a non-empty string, got ${JSON.stringify(name)}`, { kind });
  }
  return name;
}

function checkDims(where: string, dims: readonly Dim[]): void {
  if (!Array.isArray(dims)) {
    throw buildError(`${where}: dims must be an array of numbers, strings or null`, { where });
  }
  dims.forEach((d, i) => {
    const ok =
      d === null ||
      (typeof d === "string" && d.length > 0) ||
      (typeof d === "number" && Number.isSafeInteger(d) && d >= 0);
    if (!ok) {
      throw buildError(
        `${where}: dim ${i} is ${JSON.stringify(d)}; expected a non-negative integer, a symbolic name, or null`,
        {
          where,
          dim: i,
        },
      );
    }
  });
}

/** A ValueInfoProto for a tensor of `dtype`; `dims` undefined leaves the rank unknown. */
export function tensorValueInfo(name: string, dtype: DType, dims?: readonly Dim[]): ValueInfoProto {
  const tensorType: NonNullable<NonNullable<ValueInfoProto["type"]>["tensor_type"]> = {
    elem_type: onnxDataType(dtype),
  };
  if (dims !== undefined) {
    tensorType.shape = {
      dim: dims.map((d) => (d === null ? {} : typeof d === "number" ? { dim_value: d } : { dim_param: d })),
    };
  }
  return { name, type: { tensor_type: tensorType } };
}

export class GraphBuilder implements GraphLike {
  readonly name: string;
  private readonly options: GraphBuilderOptions;
  private readonly scope: ModelScope;
  private readonly parent: GraphBuilder | null;
  /** Names defined in this graph (inputs, initializers, node outputs). */
  private readonly defined = new Set<string>();
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly outputNames = new Set<string>();
  private readonly valueInfos: ValueInfoProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly nodes: NodeProto[] = [];
  private readonly metadataProps = new Map<string, string>();

  /** A root graph. (`parent` is for `subgraph()`; create body graphs with `g.subgraph(name)`.) */
  constructor(options: GraphBuilderOptions = {}, parent: GraphBuilder | null = null) {
    this.options = options;
    this.name = options.name ?? "graph";
    this.parent = parent;
    if (parent !== null) {
      this.scope = parent.scope;
      return;
    }
    const opset = options.opset ?? 17;
    if (!Number.isSafeInteger(opset) || opset < 1)
      throw buildError(`opset must be a positive integer, got ${opset}`, { opset });
    const opsets = new Map<string, number>([["", opset]]);
    for (const [domain, version] of Object.entries(options.domainOpsets ?? {})) {
      if (!Number.isSafeInteger(version) || version < 1) {
        throw buildError(
          `domainOpsets[${JSON.stringify(domain)}] must be a positive integer, got ${version}`,
          { domain, version },
        );
      }
      opsets.set(domain === "ai.onnx" ? "" : domain, version);
    }
    this.scope = { names: new Set(), counters: new Map(), opsets };
  }

  /** The opset imports, e.g. `{ "": 17, "com.microsoft": 1 }`. */
  get opsets(): Readonly<Record<string, number>> {
    return Object.fromEntries(this.scope.opsets);
  }

  /** Whether `name` is visible here (defined in this graph or an enclosing one). */
  has(name: string): boolean {
    return this.defined.has(name) || (this.parent?.has(name) ?? false);
  }

  /** A fresh value name `<prefix>_<n>` unused anywhere in the model. */
  uniqueName(prefix: string): string {
    let n = this.scope.counters.get(prefix) ?? 0;
    let candidate = `${prefix}_${n}`;
    while (this.scope.names.has(candidate)) candidate = `${prefix}_${++n}`;
    this.scope.counters.set(prefix, n + 1);
    return candidate;
  }

  private define(kind: string, name: string): void {
    checkName(kind, name);
    if (this.scope.names.has(name)) {
      throw buildError(
        `${kind}: value ${JSON.stringify(name)} is already defined; ONNX values are assigned once`,
        { kind, name },
      );
    }
    this.scope.names.add(name);
    this.defined.add(name);
  }

  /** Declares a graph input. `dims` entries: size, symbolic name, or null; `dims` undefined = unknown rank. Returns `name`. */
  input(name: string, dtype: DType, dims?: readonly Dim[]): string {
    if (!isDType(dtype))
      throw buildError(`input ${JSON.stringify(name)}: unknown dtype ${JSON.stringify(dtype)}`, {
        name,
        dtype,
      });
    if (dims !== undefined) checkDims(`input ${JSON.stringify(name)}`, dims);
    this.define("input", name);
    this.inputs.push(tensorValueInfo(name, dtype, dims));
    return name;
  }

  /** Declares a graph output; some input, initializer or node must produce `name` before encoding. Returns `name`. */
  output(name: string, dtype: DType, dims?: readonly Dim[]): string {
    checkName("output", name);
    if (!isDType(dtype))
      throw buildError(`output ${JSON.stringify(name)}: unknown dtype ${JSON.stringify(dtype)}`, {
        name,
        dtype,
      });
    if (dims !== undefined) checkDims(`output ${JSON.stringify(name)}`, dims);
    if (this.outputNames.has(name))
      throw buildError(`output ${JSON.stringify(name)} is declared twice`, { name });
    this.outputNames.add(name);
    this.outputs.push(tensorValueInfo(name, dtype, dims));
    return name;
  }

  /** Records the type of an intermediate value (GraphProto.value_info); optional, helps tools and ORT. */
  valueInfo(name: string, dtype: DType, dims?: readonly Dim[]): this {
    checkName("valueInfo", name);
    if (!isDType(dtype))
      throw buildError(`valueInfo ${JSON.stringify(name)}: unknown dtype ${JSON.stringify(dtype)}`, {
        name,
        dtype,
      });
    if (dims !== undefined) checkDims(`valueInfo ${JSON.stringify(name)}`, dims);
    this.valueInfos.push(tensorValueInfo(name, dtype, dims));
    return this;
  }

  /**
   * Adds a weight. The tensor's bytes are referenced, not copied (unless it is not contiguous, in which
   * case `contiguous()` copies it now), and read when the model is encoded. Returns `name`.
   */
  initializer(name: string, tensor: Tensor): string {
    this.define("initializer", name);
    this.initializers.push(tensorToProto(name, tensor));
    return name;
  }

  /** A `Constant` node holding `tensor`; returns its output name (`name` or a fresh `const_<n>`). */
  constant(tensor: Tensor, name?: string): string {
    const out = name ?? this.uniqueName("const");
    this.node("Constant", [], [out], { value: tensor });
    return out;
  }

  /**
   * Adds a node and returns its output names. `outputs` is either the names or a count of fresh names
   * (`<opType>_<n>`). See attributes.ts for how attribute values map to ONNX attribute types.
   */
  node(
    opType: string,
    inputs: readonly string[],
    outputs: readonly string[] | number = 1,
    attrs: Attributes = {},
    opts: NodeOptions = {},
  ): string[] {
    checkName("node", opType);
    const domain = opts.domain === "ai.onnx" ? "" : (opts.domain ?? "");
    if (!this.scope.opsets.has(domain)) {
      throw buildError(
        `node ${opType}: domain ${JSON.stringify(domain)} is not imported; add it to domainOpsets (imported: ${[...this.scope.opsets.keys()].map((d) => JSON.stringify(d)).join(", ")})`,
        { opType, domain },
      );
    }
    inputs.forEach((name, i) => {
      if (typeof name !== "string")
        throw buildError(`node ${opType}: input ${i} must be a string, got ${String(name)}`, {
          opType,
          input: i,
        });
      if (name !== "" && !this.has(name)) {
        throw buildError(
          `node ${opType}: input ${i} ${JSON.stringify(name)} is not defined (not a graph input, initializer or earlier node output)`,
          {
            opType,
            input: name,
            index: i,
          },
        );
      }
    });
    let outNames: string[];
    if (typeof outputs === "number") {
      if (!Number.isSafeInteger(outputs) || outputs < 0)
        throw buildError(`node ${opType}: output count must be a non-negative integer, got ${outputs}`, {
          opType,
        });
      outNames = Array.from({ length: outputs }, () => this.uniqueName(opType));
    } else {
      outNames = [...outputs];
    }
    const attribute = Object.entries(attrs)
      .filter((e): e is [string, NonNullable<(typeof e)[1]>] => e[1] !== undefined)
      .map(([k, v]) => encodeAttribute(k, v));
    for (const o of outNames) if (o !== "") this.define(`node ${opType} output`, o);
    const node: NodeProto = {
      input: [...inputs],
      output: outNames,
      name: opts.name ?? this.uniqueName(`${opType}_node`),
      op_type: opType,
      attribute,
    };
    if (domain !== "") node.domain = domain;
    if (opts.docString !== undefined) node.doc_string = opts.docString;
    this.nodes.push(node);
    return outNames;
  }

  /** `node()` for the common single-output case: returns the one output name. */
  op(
    opType: string,
    inputs: readonly string[],
    attrs: Attributes = {},
    opts: NodeOptions & { readonly output?: string } = {},
  ): string {
    const [out] = this.node(opType, inputs, opts.output !== undefined ? [opts.output] : 1, attrs, opts);
    return out!;
  }

  /** A body graph for If/Loop/Scan attributes. It may read this graph's values; pass it as an attribute. */
  subgraph(name: string): GraphBuilder {
    return new GraphBuilder({ name }, this);
  }

  /** Adds a ModelProto.metadata_props entry (replacing an earlier value of the same key). Root graph only. */
  metadata(key: string, value: string): this {
    if (this.parent !== null)
      throw buildError(`metadata: only the root graph carries metadata (graph ${this.name})`, { key });
    checkName("metadata key", key);
    if (typeof value !== "string")
      throw buildError(`metadata ${JSON.stringify(key)}: value must be a string`, { key });
    this.metadataProps.set(key, value);
    return this;
  }

  /** The GraphProto (references the initializers' bytes; no copy). Checks that every output is produced. */
  toGraphProto(): GraphProto {
    for (const out of this.outputs) {
      if (!this.has(out.name!)) {
        throw buildError(
          `graph ${this.name}: output ${JSON.stringify(out.name)} is declared but nothing produces it`,
          {
            graph: this.name,
            output: out.name,
          },
        );
      }
    }
    if (this.parent === null && this.outputs.length === 0)
      throw buildError(`graph ${this.name}: has no outputs`, { graph: this.name });
    const graph: GraphProto = {
      name: this.name,
      node: this.nodes,
      input: this.inputs,
      output: this.outputs,
      initializer: this.initializers,
    };
    if (this.valueInfos.length > 0) graph.value_info = this.valueInfos;
    return graph;
  }

  /** The whole ModelProto as a plain object (root graph only). */
  toModel(): ModelProto {
    if (this.parent !== null)
      throw buildError(`toModel: graph ${this.name} is a subgraph; encode the root graph`, {
        graph: this.name,
      });
    const o = this.options;
    const opset = this.scope.opsets.get("") ?? 17;
    const metadata: StringStringEntryProto[] = [...this.metadataProps].map(([key, value]) => ({
      key,
      value,
    }));
    const model: ModelProto = {
      ir_version: o.irVersion ?? irVersionForOpset(opset),
      opset_import: [...this.scope.opsets].map(([domain, version]) => ({ domain, version })),
      producer_name: o.producer ?? "tessera",
      producer_version: o.producerVersion ?? "0.1.0",
      graph: this.toGraphProto(),
      metadata_props: metadata,
    };
    if (o.docString !== undefined) model.doc_string = o.docString;
    if (o.modelVersion !== undefined) model.model_version = o.modelVersion;
    return model;
  }

  /** Encodes the model to `.onnx` bytes (protobuf); the initializers' bytes are copied into the result once. */
  toBytes(): Uint8Array {
    return encodeModel(this.toModel());
  }
}

/**
 * Encodes a ModelProto object to `.onnx` bytes. The result is a plain Uint8Array that owns its whole
 * ArrayBuffer (never a slice of Node's shared Buffer pool), so it can be transferred to a worker safely.
 */
export function encodeModel(model: ModelProto): Uint8Array {
  const out = ModelProtoType.encode(model).finish();
  if (
    out.byteOffset === 0 &&
    out.buffer.byteLength === out.byteLength &&
    !(out.buffer instanceof SharedArrayBuffer)
  ) {
    return new Uint8Array(out.buffer, 0, out.byteLength);
  }
  return new Uint8Array(out); // small models come from the pool: copy them out
}
