/**
 * Fast path for JSON infer bodies: `inputs[i].data` arrays of numbers are read straight from the body
 * bytes into Float32Array / Float64Array, and only the small rest of the document goes through JSON.parse.
 *
 * The result is exactly what `JSON.parse` + the generic conversion give (the same doubles, the same
 * float32 rounding of those doubles). A data array the fast path does not convert (a datatype other than
 * FP32/FP64, data that is neither flat nor nested exactly like the shape, an element count that does not fit)
 * is put back as `JSON.parse` of its own text, for the generic conversion (and its error messages), so the
 * document is still parsed once. A document it cannot take (strings or objects inside `data`, `data` that is
 * not an array, a repeated `inputs` key, text that is not strict JSON) makes `fastParseInferJson` return
 * `null`, and the caller parses the body the generic way, which also produces the error messages.
 */

/** Data already converted by the fast path; `parseJsonData` passes it through. */
export class PreparsedData {
  constructor(readonly data: Float32Array | Float64Array) {}
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const COLON = 0x3a;
const COMMA = 0x2c;

const POW10: number[] = Array.from({ length: 23 }, (_, i) => 10 ** i);
const EPS4 = 4 * Number.EPSILON;

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function bytesEqual(b: Uint8Array, start: number, end: number, ascii: string): boolean {
  if (end - start !== ascii.length) return false;
  for (let i = 0; i < ascii.length; i++) if (b[start + i] !== ascii.charCodeAt(i)) return false;
  return true;
}

/** Index just past the closing quote of the string that opens at `i`, or -1. */
function skipString(b: Uint8Array, i: number): number {
  let j = i + 1;
  for (;;) {
    const q = b.indexOf(QUOTE, j);
    if (q < 0) return -1;
    let k = q - 1;
    while (b[k] === BACKSLASH) k--;
    if ((q - 1 - k) % 2 === 0) return q + 1;
    j = q + 1;
  }
}

interface DataRange {
  readonly input: number;
  readonly start: number;
  /** Index of the closing bracket. */
  readonly end: number;
}

/** Memory for element arrays: an ArrayBuffer of at least `bytes` bytes (contents may be stale). */
export type ArrayBufferSource = (bytes: number) => ArrayBuffer;

/**
 * Parses an infer request JSON body, reading `inputs[i].data` number arrays without JS arrays.
 * Returns the parsed object (with `PreparsedData` in place of the FP32/FP64 arrays it converted, other
 * `data` arrays as JSON.parse gives them), or null to say "use the generic parser". `alloc` supplies the arrays' memory (e.g. a pool); default: fresh arrays.
 */
export function fastParseInferJson(b: Uint8Array, alloc?: ArrayBufferSource): unknown {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const ranges: DataRange[] = [];
  const stack: number[] = [];
  let depth1Key = "";
  let inputsSeen = 0;
  let inputIndex = -1;
  let i = 0;
  const n = b.length;
  while (i < n) {
    const c = b[i]!;
    if (c === QUOTE) {
      const strEnd = skipString(b, i);
      if (strEnd < 0) return null;
      let j = strEnd;
      while (j < n && isWs(b[j]!)) j++;
      const d = stack.length;
      if (b[j] === COLON && stack[d - 1] === LBRACE) {
        if (d === 1) {
          depth1Key = bytesEqual(b, i + 1, strEnd - 1, "inputs") ? "inputs" : "";
          if (depth1Key === "inputs" && ++inputsSeen > 1) return null;
        } else if (
          d === 3 &&
          depth1Key === "inputs" &&
          stack[1] === LBRACKET &&
          bytesEqual(b, i + 1, strEnd - 1, "data")
        ) {
          let k = j + 1;
          while (k < n && isWs(b[k]!)) k++;
          // Not an array (a scalar, or a later duplicate key that must win as in JSON.parse): generic path.
          if (b[k] !== LBRACKET) return null;
          const end = matchNumberArray(b, k);
          if (end < 0) return null;
          ranges.push({ input: inputIndex, start: k, end });
          i = end + 1;
          continue;
        }
      }
      i = strEnd;
      continue;
    }
    if (c === LBRACE || c === LBRACKET) {
      stack.push(c);
      if (c === LBRACE && stack.length === 3 && depth1Key === "inputs" && stack[1] === LBRACKET) inputIndex++;
    } else if (c === RBRACE || c === RBRACKET) {
      stack.pop();
    }
    i++;
  }
  if (ranges.length === 0) return null;
  // The document with each data array replaced by 0: small, so JSON.parse of it is cheap.
  let text = "";
  let prev = 0;
  for (const r of ranges) {
    text += `${buf.toString("utf8", prev, r.start)}0`;
    prev = r.end + 1;
  }
  text += buf.toString("utf8", prev, n);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  const inputs = (raw as { inputs?: unknown }).inputs;
  if (!Array.isArray(inputs)) return null;
  for (const r of ranges) {
    const input = inputs[r.input] as Record<string, unknown> | undefined;
    if (typeof input !== "object" || input === null) return null;
    const { datatype, shape } = input;
    const numeric =
      (datatype === "FP32" || datatype === "FP64") &&
      Array.isArray(shape) &&
      shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0);
    const data = numeric ? parseNumbers(buf, r.start, r.end, datatype, shape as number[], alloc) : null;
    if (data !== null) input.data = data;
    else {
      // Not taken here: the array as JSON.parse gives it, for the generic conversion and its messages.
      try {
        input.data = JSON.parse(buf.toString("utf8", r.start, r.end + 1));
      } catch {
        return null;
      }
    }
  }
  return raw;
}

/** Closing bracket of a (possibly nested) array holding no strings or objects, or -1. */
function matchNumberArray(b: Uint8Array, start: number): number {
  const close = b.indexOf(RBRACKET, start);
  if (close < 0) return -1;
  const inner = b.subarray(start + 1, close);
  if (inner.indexOf(QUOTE) < 0 && inner.indexOf(LBRACE) < 0 && inner.indexOf(LBRACKET) < 0) return close;
  let depth = 0;
  for (let i = start; i < b.length; i++) {
    const c = b[i]!;
    if (c === LBRACKET) depth++;
    else if (c === RBRACKET) {
      if (--depth === 0) return i;
    } else if (c === QUOTE || c === LBRACE) return -1;
  }
  return -1;
}

/**
 * Numbers of the data array in [start, end] into a typed array of the shape's size: flat, or nested
 * exactly like the shape. Null when anything differs from that (the generic path then decides).
 */
function parseNumbers(
  buffer: Buffer,
  start: number,
  end: number,
  datatype: "FP32" | "FP64",
  shape: readonly number[],
  alloc: ArrayBufferSource | undefined,
): PreparsedData | null {
  const buf = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let count = 1;
  for (const d of shape) count *= d;
  // Each element takes at least 2 bytes ("1,"): a shape larger than that cannot match (and must not allocate).
  if (!(count <= (end - start) / 2 + 1)) return null;
  // Every element is written before the array is returned (filled === count), so stale memory is fine.
  const Ctor = datatype === "FP32" ? Float32Array : Float64Array;
  const out = alloc ? new Ctor(alloc(count * Ctor.BYTES_PER_ELEMENT), 0, count) : new Ctor(count);
  const fp32 = datatype === "FP32";
  // Levels: leading brackets. 1 = flat; shape.length = nested like the shape.
  let levels = 0;
  let p = start;
  while (p < end && (buf[p] === LBRACKET || isWs(buf[p]!))) {
    if (buf[p] === LBRACKET) levels++;
    p++;
  }
  if (levels !== 1 && (levels !== shape.length || levels < 2)) return null;
  const seen = new Array<number>(levels).fill(0);
  let depth = 0;
  let filled = 0;
  let rowStart = 0;
  let i = start;
  // Expecting: a value (number or '[') after '[' or ','; a separator (',' or ']') after a value.
  let wantValue = true;
  let afterOpen = false;
  while (i <= end) {
    const c = buf[i]!;
    // (Whitespace is tested after the common tokens: digits, '-' and ',' of compact JSON.)
    if (!wantValue && c === COMMA) {
      wantValue = true;
      afterOpen = false;
      i++;
      continue;
    }
    if (isWs(c)) {
      i++;
      continue;
    }
    if (wantValue) {
      if (c === LBRACKET) {
        if (depth >= levels) return null;
        if (depth > 0) seen[depth - 1]!++;
        seen[depth] = 0;
        depth++;
        if (depth === levels) rowStart = filled;
        afterOpen = true;
        i++;
        continue;
      }
      if (c === RBRACKET && afterOpen) {
        wantValue = false;
        continue; // empty array: handled as a separator below
      }
      if (depth !== levels) return null;
      if (filled >= count) return null;
      // A number: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
      const numStart = i;
      let neg = false;
      if (c === 0x2d) {
        neg = true;
        i++;
      }
      let hi = 0;
      let lo = 0;
      let loDigits = 0;
      let sig = 0; // significant digits seen
      let dropped = 0; // significant digits beyond 19 (ignored in the estimate, counted for the exponent)
      let exp = 0;
      let d = buf[i]!;
      if (d === 0x30) {
        i++;
        d = buf[i]!;
        if (d >= 0x30 && d <= 0x39) return null; // leading zero
      } else if (d >= 0x31 && d <= 0x39) {
        // One loop per digit range (first 15 into hi, next 4 into lo, the rest only counted): one test per digit.
        while (d >= 0x30 && d <= 0x39 && sig < 15) {
          hi = hi * 10 + (d - 0x30);
          sig++;
          d = buf[++i]!;
        }
        while (d >= 0x30 && d <= 0x39 && sig < 19) {
          lo = lo * 10 + (d - 0x30);
          loDigits++;
          sig++;
          d = buf[++i]!;
        }
        while (d >= 0x30 && d <= 0x39) {
          dropped++;
          sig++;
          d = buf[++i]!;
        }
      } else return null;
      if (d === 0x2e) {
        d = buf[++i]!;
        if (!(d >= 0x30 && d <= 0x39)) return null;
        if (sig === 0) {
          // Zeros before the first significant digit only move the exponent.
          while (d === 0x30) {
            exp--;
            d = buf[++i]!;
          }
        }
        while (d >= 0x30 && d <= 0x39 && sig < 15) {
          hi = hi * 10 + (d - 0x30);
          exp--;
          sig++;
          d = buf[++i]!;
        }
        while (d >= 0x30 && d <= 0x39 && sig < 19) {
          lo = lo * 10 + (d - 0x30);
          loDigits++;
          exp--;
          sig++;
          d = buf[++i]!;
        }
        while (d >= 0x30 && d <= 0x39) {
          sig++;
          d = buf[++i]!;
        }
      }
      if (d === 0x65 || d === 0x45) {
        i++;
        d = buf[i]!;
        let eneg = false;
        if (d === 0x2b || d === 0x2d) {
          eneg = d === 0x2d;
          i++;
          d = buf[i]!;
        }
        if (!(d >= 0x30 && d <= 0x39)) return null;
        let e = 0;
        while (d >= 0x30 && d <= 0x39) {
          if (e < 100000) e = e * 10 + (d - 0x30);
          i++;
          d = buf[i]!;
        }
        exp += eneg ? -e : e;
      }
      exp += dropped;
      let v: number;
      if (sig <= 15 && exp >= -22 && exp <= 22) {
        // Clinger's fast path: an exact integer times or divided by an exact power of ten, one rounding.
        v = exp >= 0 ? hi * POW10[exp]! : hi / POW10[-exp]!;
        if (neg) v = -v;
        out[filled++] = v;
      } else {
        const e2 = exp + loDigits; // value ≈ (hi * 10^loDigits + lo) * 10^exp
        let approx = Number.NaN;
        if (fp32 && e2 - loDigits >= -22 && e2 - loDigits <= 22 && dropped + sig < 40) {
          const m = hi * POW10[loDigits]! + lo;
          approx = exp >= 0 ? m * POW10[exp]! : m / POW10[-exp]!;
        }
        // The estimate is within ~2 ulp of the exact value; when every value in a 4-ulp band rounds to
        // the same float32, that float32 is what JSON.parse + Float32Array would give. Otherwise parse exactly.
        if (
          fp32 &&
          !Number.isNaN(approx) &&
          Math.fround(approx * (1 - EPS4)) === Math.fround(approx * (1 + EPS4))
        ) {
          out[filled++] = neg ? -approx : approx;
        } else {
          out[filled++] = Number(buffer.toString("latin1", numStart, i));
        }
      }
      wantValue = false;
      afterOpen = false;
      continue;
    }
    // Separator (',' is handled at the top of the loop).
    if (c === RBRACKET) {
      if (depth === 0) return null;
      // Elements in this array: numbers at the innermost level are counted by `filled`.
      if (levels > 1) {
        const got = depth === levels ? filled - rowStart : seen[depth - 1]!;
        if (got !== shape[depth - 1]) return null;
      }
      depth--;
      i++;
      if (depth === 0) break;
      continue;
    }
    return null;
  }
  if (depth !== 0 || filled !== count) return null;
  // Trailing bytes up to `end` must be whitespace (end is the closing bracket).
  if (i !== end + 1) return null;
  return new PreparsedData(out);
}
