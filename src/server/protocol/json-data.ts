/**
 * JSON `data` of a tensor → its element array, checked against shape and datatype.
 *
 * `data` may be flat (`[1,2,3,4]`) or nested like the shape (`[[1,2],[3,4]]`). Fully nested data must
 * match the shape at every level; anything else is flattened and its element count compared with the
 * product of the shape. The first bad element is reported with its index and what was expected.
 */
import { allocWire, DATATYPES } from "./datatypes.ts";
import { PreparsedData } from "./fast-json.ts";
import type { Datatype, WireArray } from "./types.ts";

export type DataResult = { ok: true; data: WireArray } | { ok: false; message: string };

const encoder = new TextEncoder();

/** Product of a shape's dims. */
export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const dim of shape) n *= dim;
  return n;
}

export function describeJson(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `a string (${JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}…` : v)})`;
  if (typeof v === "number") return `the number ${v}`;
  if (typeof v === "boolean") return `the boolean ${v}`;
  return `a ${typeof v}`;
}

function depthOf(v: unknown): number {
  let depth = 0;
  while (Array.isArray(v)) {
    depth++;
    v = v[0];
  }
  return depth;
}

/**
 * Every non-array leaf of nested arrays, in order. Iterative: `Array.prototype.flat(Infinity)` recurses once per
 * level, so a body nested 100k levels deep would overflow the stack.
 */
function flattenAll(raw: readonly unknown[]): unknown[] {
  const out: unknown[] = [];
  const arrays: (readonly unknown[])[] = [raw];
  const next: number[] = [0];
  while (arrays.length > 0) {
    const top = arrays.length - 1;
    const a = arrays[top]!;
    const i = next[top]!;
    if (i === a.length) {
      arrays.pop();
      next.pop();
      continue;
    }
    next[top] = i + 1;
    const v = a[i];
    if (Array.isArray(v)) {
      arrays.push(v);
      next.push(0);
    } else out.push(v);
  }
  return out;
}

/** Checks that nested `data` has exactly the shape; returns the problem or null. */
function checkNested(v: unknown, shape: readonly number[], level: number, at: string): string | null {
  if (level === shape.length) {
    return Array.isArray(v) ? `data${at} is an array but shape has only ${shape.length} dims` : null;
  }
  if (!Array.isArray(v))
    return `data${at} is ${describeJson(v)} but shape expects an array of ${shape[level]}`;
  if (v.length !== shape[level]) {
    return `data${at} has ${v.length} entries but shape [${shape.join(",")}] expects ${shape[level]} at dim ${level}`;
  }
  for (let i = 0; i < v.length; i++) {
    const problem = checkNested(v[i], shape, level + 1, `${at}[${i}]`);
    if (problem) return problem;
  }
  return null;
}

/** Parses JSON `data` for a tensor of `datatype` and `shape`. */
export function parseJsonData(raw: unknown, datatype: Datatype, shape: readonly number[]): DataResult {
  const info = DATATYPES[datatype];
  if (!info.json) {
    return {
      ok: false,
      message: `${datatype} is not supported in JSON; send it as binary data (parameters.binary_data_size)`,
    };
  }
  const count = elementCount(shape);
  // Already converted from the body bytes by fastParseInferJson (datatype and count checked there).
  if (
    raw instanceof PreparsedData &&
    raw.data.length === count &&
    (datatype === "FP32") === raw.data instanceof Float32Array
  )
    return { ok: true, data: raw.data };
  let flat: unknown[];
  if (!Array.isArray(raw)) {
    if (count === 1 && raw !== null && typeof raw !== "object") flat = [raw];
    else return { ok: false, message: `data must be an array, got ${describeJson(raw)}` };
  } else {
    const depth = depthOf(raw);
    if (depth > 1 && depth === shape.length) {
      const problem = checkNested(raw, shape, 0, "");
      if (problem) return { ok: false, message: problem };
      flat = flattenAll(raw);
    } else {
      flat = depth > 1 ? flattenAll(raw) : raw;
    }
  }
  if (flat.length !== count) {
    return {
      ok: false,
      message: `data has ${flat.length} elements but shape [${shape.join(",")}] holds ${count}`,
    };
  }
  return convertElements(flat, datatype);
}

function convertElements(flat: readonly unknown[], datatype: Datatype): DataResult {
  const info = DATATYPES[datatype];
  const n = flat.length;
  const bad = (i: number, expected: string): DataResult => ({
    ok: false,
    message: `data element ${i} is ${describeJson(flat[i])}, expected ${expected} for ${datatype}`,
  });
  switch (info.kind) {
    case "bool": {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const v = flat[i];
        if (typeof v !== "boolean") return bad(i, "true or false");
        out[i] = v ? 1 : 0;
      }
      return { ok: true, data: out };
    }
    case "int": {
      const out = allocWire(datatype, n) as Exclude<WireArray, Uint8Array[] | BigInt64Array | BigUint64Array>;
      const min = info.min!;
      const max = info.max!;
      for (let i = 0; i < n; i++) {
        const v = flat[i];
        if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
          return bad(i, `an integer in [${min}, ${max}]`);
        }
        out[i] = v;
      }
      return { ok: true, data: out };
    }
    case "bigint": {
      const signed = datatype === "INT64";
      const out = signed ? new BigInt64Array(n) : new BigUint64Array(n);
      const lo = signed ? -(2n ** 63n) : 0n;
      const hi = signed ? 2n ** 63n - 1n : 2n ** 64n - 1n;
      for (let i = 0; i < n; i++) {
        const v = flat[i];
        let b: bigint;
        if (typeof v === "number" && Number.isSafeInteger(v)) b = BigInt(v);
        else if (typeof v === "string" && /^-?\d{1,20}$/.test(v)) b = BigInt(v);
        else return bad(i, "an integer (a number up to 2^53, or a decimal string)");
        if (b < lo || b > hi) return bad(i, `an integer in [${lo}, ${hi}]`);
        out[i] = b;
      }
      return { ok: true, data: out };
    }
    case "float": {
      const out = datatype === "FP32" ? new Float32Array(n) : new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const v = flat[i];
        if (typeof v === "number") out[i] = v;
        else if (v === "NaN") out[i] = Number.NaN;
        else if (v === "Infinity") out[i] = Number.POSITIVE_INFINITY;
        else if (v === "-Infinity") out[i] = Number.NEGATIVE_INFINITY;
        else return bad(i, "a number");
      }
      return { ok: true, data: out };
    }
    case "bytes": {
      const out = new Array<Uint8Array>(n);
      for (let i = 0; i < n; i++) {
        const v = flat[i];
        if (typeof v !== "string") return bad(i, "a string");
        out[i] = encoder.encode(v);
      }
      return { ok: true, data: out };
    }
    case "half":
      return { ok: false, message: `${datatype} is not supported in JSON` };
  }
}

const decoder = new TextDecoder();

/**
 * Element array → JSON text of a flat `data` array. INT64/UINT64 are written as exact integer literals
 * (JSON numbers beyond 2^53 lose precision in JS parsers, but the text is exact), or with
 * `unsafeIntsAsStrings` as decimal strings beyond 2^53 (what this server's parser accepts); NaN/Infinity as null.
 */
export function jsonDataText(
  datatype: Datatype,
  data: WireArray,
  opts: { unsafeIntsAsStrings?: boolean } = {},
): string {
  const info = DATATYPES[datatype];
  switch (info.kind) {
    case "bool": {
      const a = data as Uint8Array;
      let s = "[";
      for (let i = 0; i < a.length; i++) s += (i ? "," : "") + (a[i] ? "true" : "false");
      return `${s}]`;
    }
    case "bigint": {
      const safe = (b: bigint) => b <= 9007199254740991n && b >= -9007199254740991n;
      const text = opts.unsafeIntsAsStrings ? (b: bigint) => (safe(b) ? String(b) : `"${b}"`) : String;
      return `[${Array.from(data as BigInt64Array, text).join(",")}]`;
    }
    case "bytes":
      return JSON.stringify((data as Uint8Array[]).map((b) => decoder.decode(b)));
    case "half":
      throw new Error(`jsonDataText: ${datatype} has no JSON form`);
    default:
      return JSON.stringify(Array.from(data as Float64Array));
  }
}
