/**
 * Node attributes: JS values → AttributeProto, with the attribute type picked from the value.
 *
 * Rules (first match wins):
 *  1. An explicit wrapper `{ type: "float" | "int" | "string" | "tensor" | "graph" | "floats" | "ints" |
 *     "strings" | "tensors" | "graphs", value }` gives that type. Use it to force FLOAT for a whole number.
 *  2. A number is INT when it is an integer, FLOAT otherwise, except that whole numbers for the names in
 *     `FLOAT_ATTRIBUTE_NAMES` (epsilon, alpha, beta, …; float in every standard op) become FLOAT.
 *     A bigint is INT; a boolean is INT 0/1.
 *  3. A string is STRING (UTF-8), a Tensor is TENSOR, a subgraph (anything with `toGraphProto()`) is GRAPH.
 *  4. Arrays: numbers → INTS when all are integers (FLOATS otherwise, or for the float names), bigints → INTS,
 *     strings → STRINGS, Tensors → TENSORS, subgraphs → GRAPHS. An empty array needs a wrapper.
 */
import { Tensor } from "../tensor/index.ts";
import { buildError } from "./errors.ts";
import type { AttributeProto, GraphProto } from "./proto-types.ts";
import { AttributeType as T } from "./schema.ts";
import { tensorToProto } from "./tensor-proto.ts";

/** Anything that encodes to a GraphProto: a subgraph builder (`GraphBuilder.subgraph`). */
export interface GraphLike {
  toGraphProto(): GraphProto;
}

/** An attribute with its ONNX type stated explicitly. */
export type TypedAttribute =
  | { readonly type: "float"; readonly value: number }
  | { readonly type: "int"; readonly value: number | bigint }
  | { readonly type: "string"; readonly value: string }
  | { readonly type: "tensor"; readonly value: Tensor }
  | { readonly type: "graph"; readonly value: GraphLike }
  | { readonly type: "floats"; readonly value: readonly number[] }
  | { readonly type: "ints"; readonly value: readonly (number | bigint)[] }
  | { readonly type: "strings"; readonly value: readonly string[] }
  | { readonly type: "tensors"; readonly value: readonly Tensor[] }
  | { readonly type: "graphs"; readonly value: readonly GraphLike[] };

/** What `GraphBuilder.node` accepts as an attribute value. */
export type AttributeValue =
  | number
  | bigint
  | boolean
  | string
  | Tensor
  | GraphLike
  | readonly number[]
  | readonly bigint[]
  | readonly string[]
  | readonly Tensor[]
  | readonly GraphLike[]
  | TypedAttribute;

export type Attributes = Readonly<Record<string, AttributeValue | undefined>>;

/** Attribute names that are FLOAT in every standard ONNX op, so `epsilon: 1` still encodes as FLOAT. */
export const FLOAT_ATTRIBUTE_NAMES: ReadonlySet<string> = new Set([
  "epsilon",
  "alpha",
  "beta",
  "gamma",
  "momentum",
  "lambd",
  "spatial_scale",
  "value_float",
  "value_floats",
]);

const utf8 = new TextEncoder();

function isGraphLike(v: unknown): v is GraphLike {
  return typeof v === "object" && v !== null && typeof (v as GraphLike).toGraphProto === "function";
}

function isTyped(v: unknown): v is TypedAttribute {
  return (
    typeof v === "object" &&
    v !== null &&
    !Array.isArray(v) &&
    !(v instanceof Tensor) &&
    "type" in v &&
    "value" in v
  );
}

function toInt(name: string, v: number | bigint): number | bigint {
  if (typeof v === "bigint") {
    if (v > 9223372036854775807n || v < -9223372036854775808n) {
      throw buildError(`attribute ${name}: ${v} does not fit in int64`, { attribute: name });
    }
    return v;
  }
  if (!Number.isSafeInteger(v)) {
    throw buildError(`attribute ${name}: INT value must be a safe integer, got ${v}`, {
      attribute: name,
      value: v,
    });
  }
  return v;
}

/** protobufjs writes int64 from numbers or decimal strings; bigints travel as strings. */
function int64Out(v: number | bigint): number {
  return (typeof v === "bigint" ? v.toString() : v) as number;
}

const CHECKS: Readonly<Record<TypedAttribute["type"], (v: unknown) => boolean>> = {
  float: (v) => typeof v === "number",
  int: (v) => typeof v === "number" || typeof v === "bigint",
  string: (v) => typeof v === "string",
  tensor: (v) => v instanceof Tensor,
  graph: isGraphLike,
  floats: (v) => Array.isArray(v) && v.every((x) => typeof x === "number"),
  ints: (v) => Array.isArray(v) && v.every((x) => typeof x === "number" || typeof x === "bigint"),
  strings: (v) => Array.isArray(v) && v.every((x) => typeof x === "string"),
  tensors: (v) => Array.isArray(v) && v.every((x) => x instanceof Tensor),
  graphs: (v) => Array.isArray(v) && v.every(isGraphLike),
};

function encodeTyped(name: string, a: TypedAttribute): AttributeProto {
  const check = CHECKS[a.type];
  if (check === undefined) {
    throw buildError(`attribute ${name}: unknown attribute type ${JSON.stringify(a.type)}`, {
      attribute: name,
    });
  }
  if (!check(a.value)) {
    throw buildError(
      `attribute ${name}: value ${JSON.stringify(String(a.value))} does not match type ${JSON.stringify(a.type)}`,
      {
        attribute: name,
        type: a.type,
      },
    );
  }
  switch (a.type) {
    case "float":
      return { name, type: T.FLOAT, f: a.value };
    case "int":
      return { name, type: T.INT, i: int64Out(toInt(name, a.value)) };
    case "string":
      return { name, type: T.STRING, s: utf8.encode(a.value) };
    case "tensor":
      return { name, type: T.TENSOR, t: tensorToProto("", a.value) };
    case "graph":
      return { name, type: T.GRAPH, g: a.value.toGraphProto() };
    case "floats":
      return { name, type: T.FLOATS, floats: [...a.value] };
    case "ints":
      return { name, type: T.INTS, ints: a.value.map((v) => int64Out(toInt(name, v))) };
    case "strings":
      return { name, type: T.STRINGS, strings: a.value.map((s) => utf8.encode(s)) };
    case "tensors":
      return { name, type: T.TENSORS, tensors: a.value.map((t) => tensorToProto("", t)) };
    case "graphs":
      return { name, type: T.GRAPHS, graphs: a.value.map((g) => g.toGraphProto()) };
    default:
      throw buildError(
        `attribute ${name}: unknown attribute type ${JSON.stringify((a as { type: unknown }).type)}`,
        {
          attribute: name,
        },
      );
  }
}

/** Picks the ONNX attribute type for a value (see the rules at the top of this file). */
export function inferAttribute(name: string, value: AttributeValue): TypedAttribute {
  if (isTyped(value)) return value;
  const floatName = FLOAT_ATTRIBUTE_NAMES.has(name);
  if (typeof value === "number") {
    if (!Number.isFinite(value) || !Number.isInteger(value) || floatName) return { type: "float", value };
    return { type: "int", value };
  }
  if (typeof value === "bigint") return { type: "int", value };
  if (typeof value === "boolean") return { type: "int", value: value ? 1 : 0 };
  if (typeof value === "string") return { type: "string", value };
  if (value instanceof Tensor) return { type: "tensor", value };
  if (isGraphLike(value)) return { type: "graph", value };
  if (Array.isArray(value)) {
    const list = value as readonly unknown[];
    if (list.length === 0) {
      throw buildError(
        `attribute ${name}: an empty list needs an explicit type, e.g. { type: "ints", value: [] }`,
        {
          attribute: name,
        },
      );
    }
    if (list.every((v) => typeof v === "number")) {
      const nums = list as number[];
      return nums.every((v) => Number.isInteger(v)) && !floatName
        ? { type: "ints", value: nums }
        : { type: "floats", value: nums };
    }
    if (list.every((v) => typeof v === "number" || typeof v === "bigint"))
      return { type: "ints", value: list as (number | bigint)[] };
    if (list.every((v) => typeof v === "string")) return { type: "strings", value: list as string[] };
    if (list.every((v) => v instanceof Tensor)) return { type: "tensors", value: list as Tensor[] };
    if (list.every(isGraphLike)) return { type: "graphs", value: list as GraphLike[] };
    throw buildError(`attribute ${name}: a list must hold only numbers, strings, Tensors or graphs`, {
      attribute: name,
    });
  }
  throw buildError(`attribute ${name}: unsupported value ${String(value)}`, { attribute: name });
}

/** Encodes one attribute. Throws `E_ONNX_BUILD` for values that have no ONNX attribute type. */
export function encodeAttribute(name: string, value: AttributeValue): AttributeProto {
  if (name.length === 0) throw buildError("attribute names must not be empty", {});
  return encodeTyped(name, inferAttribute(name, value));
}
