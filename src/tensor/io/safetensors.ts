/**
 * safetensors read/write (https://github.com/huggingface/safetensors, format section).
 *
 * File = u64 little-endian header length N, N bytes of JSON header, then the byte buffer. The header maps
 * names to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the byte buffer) and may hold a
 * `__metadata__` object of string → string.
 *
 * Reading never trusts the header: the length must fit the file, offsets must lie inside the byte buffer and
 * not overlap, dtypes must be known, and `end - begin` must equal shape × dtype size. Any violation throws a
 * `TesseraError` (E_SAFETENSORS_*) naming the tensor and the numbers. Tensors are views of the file bytes
 * (no copy) whenever their start is aligned to the dtype size; otherwise they are copied.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { type DType, dtypeInfo } from "../dtype.ts";
import { fmtShape, TesseraError } from "../errors.ts";
import { makeLayout, shapeSize } from "../layout.ts";
import { Tensor } from "../tensor.ts";

const TO_ST: Readonly<Record<DType, string>> = {
  float64: "F64",
  float32: "F32",
  float16: "F16",
  int64: "I64",
  int32: "I32",
  int16: "I16",
  int8: "I8",
  uint8: "U8",
  bool: "BOOL",
};
const FROM_ST: Readonly<Record<string, DType>> = Object.fromEntries(
  Object.entries(TO_ST).map(([k, v]) => [v, k as DType]),
);

/** Largest JSON header accepted (the reference implementation's limit). */
export const SAFETENSORS_MAX_HEADER = 100_000_000;

export interface SafetensorsFile {
  /** Tensors in header order. */
  tensors: Map<string, Tensor>;
  /** The `__metadata__` object (empty when absent). */
  metadata: Record<string, string>;
}

function fail(code: string, message: string, facts: Record<string, unknown> = {}): never {
  throw new TesseraError(code, `safetensors: ${message}`, facts);
}

function asBytes(buf: ArrayBufferLike | ArrayBufferView): Uint8Array {
  return ArrayBuffer.isView(buf)
    ? new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
    : new Uint8Array(buf);
}

export interface ReadSafetensorsOptions {
  /**
   * What to do with BF16 tensors, which Tessera has no dtype for: "error" (default, `E_SAFETENSORS_DTYPE`) or
   * "float32" (decode into a new float32 tensor: exact, since bf16 is the top half of a float32; copies).
   */
  bf16?: "error" | "float32";
}

/** One validated header entry. */
interface Entry {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: number[];
  readonly begin: number;
  readonly end: number;
  readonly bf16: boolean;
}

/** Parses safetensors bytes. Tensors are views of `buf` where alignment allows (see module doc). */
export function readSafetensors(
  buf: ArrayBufferLike | ArrayBufferView,
  options: ReadSafetensorsOptions = {},
): SafetensorsFile {
  const bytes = asBytes(buf);
  if (bytes.byteLength < 8)
    fail(
      "E_SAFETENSORS_HEADER",
      `file is ${bytes.byteLength} bytes, too short for the 8-byte header length`,
      { byteLength: bytes.byteLength },
    );
  const n = headerLength(new DataView(bytes.buffer, bytes.byteOffset, 8), bytes.byteLength);
  const dataStart = 8 + n;
  const { entries, metadata } = parseHeader(
    bytes.subarray(8, dataStart),
    bytes.byteLength - dataStart,
    options.bf16 ?? "error",
  );
  const tensors = new Map<string, Tensor>();
  for (const e of entries)
    tensors.set(e.name, tensorOf(e, bytes.subarray(dataStart + e.begin, dataStart + e.end)));
  return { tensors, metadata };
}

/** The header length N from the first 8 bytes, checked against the file size and the reference limit. */
function headerLength(first8: DataView, byteLength: number): number {
  const n64 = first8.getBigUint64(0, true);
  const available = byteLength - 8;
  if (n64 > BigInt(available) || n64 > BigInt(SAFETENSORS_MAX_HEADER)) {
    fail(
      "E_SAFETENSORS_HEADER",
      `header length ${n64} is beyond the ${available} bytes after the length field (or over ${SAFETENSORS_MAX_HEADER})`,
      {
        headerLength: n64.toString(),
        available,
      },
    );
  }
  return Number(n64);
}

/** Parses and validates the JSON header against a data buffer of `dataLen` bytes (see module doc). */
function parseHeader(
  json: Uint8Array,
  dataLen: number,
  bf16: "error" | "float32",
): { entries: Entry[]; metadata: Record<string, string> } {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(json));
  } catch (e) {
    fail("E_SAFETENSORS_HEADER", `header is not valid UTF-8 JSON: ${(e as Error).message}`, {});
  }
  if (header === null || typeof header !== "object" || Array.isArray(header))
    fail("E_SAFETENSORS_HEADER", "header must be a JSON object", {});
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (raw === null || typeof raw !== "object" || Array.isArray(raw))
        fail("E_SAFETENSORS_HEADER", "__metadata__ must be an object of strings", {});
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== "string")
          fail("E_SAFETENSORS_HEADER", `__metadata__.${k} must be a string, got ${typeof v}`, { key: k });
        metadata[k] = v;
      }
      continue;
    }
    if (raw === null || typeof raw !== "object")
      fail("E_SAFETENSORS_HEADER", `entry ${JSON.stringify(name)} must be an object`, { name });
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const isBF16 = e.dtype === "BF16" && bf16 === "float32";
    const dtype = isBF16 ? "float32" : typeof e.dtype === "string" ? FROM_ST[e.dtype] : undefined;
    if (dtype === undefined) {
      fail(
        "E_SAFETENSORS_DTYPE",
        `tensor ${JSON.stringify(name)} has unsupported dtype ${JSON.stringify(e.dtype)}; supported: ${Object.keys(FROM_ST).join(", ")}${e.dtype === "BF16" ? ' (BF16 reads as float32, exactly, with the option { bf16: "float32" })' : ""}`,
        {
          name,
          dtype: e.dtype,
        },
      );
    }
    if (
      !Array.isArray(e.shape) ||
      e.shape.some((d) => typeof d !== "number" || !Number.isSafeInteger(d) || d < 0)
    ) {
      fail(
        "E_SAFETENSORS_HEADER",
        `tensor ${JSON.stringify(name)} has invalid shape ${JSON.stringify(e.shape)}`,
        { name },
      );
    }
    const off = e.data_offsets;
    if (
      !Array.isArray(off) ||
      off.length !== 2 ||
      off.some((x) => typeof x !== "number" || !Number.isSafeInteger(x) || x < 0)
    ) {
      fail(
        "E_SAFETENSORS_OFFSETS",
        `tensor ${JSON.stringify(name)} has invalid data_offsets ${JSON.stringify(off)}`,
        { name },
      );
    }
    const [begin, end] = off as [number, number];
    if (begin > end || end > dataLen) {
      fail(
        "E_SAFETENSORS_OFFSETS",
        `tensor ${JSON.stringify(name)} has data_offsets [${begin}, ${end}] outside the ${dataLen}-byte data buffer`,
        {
          name,
          begin,
          end,
          dataLength: dataLen,
        },
      );
    }
    const shape = e.shape as number[];
    const need = shapeSize(shape) * (isBF16 ? 2 : dtypeInfo(dtype).byteSize);
    if (end - begin !== need) {
      fail(
        "E_SAFETENSORS_SIZE",
        `tensor ${JSON.stringify(name)}: ${dtype}${fmtShape(shape)} needs ${need} bytes but data_offsets span ${end - begin}`,
        {
          name,
          need,
          got: end - begin,
        },
      );
    }
    entries.push({ name, dtype, shape, begin, end, bf16: isBF16 });
  }
  const sorted = [...entries].filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.begin < prev.end) {
      fail(
        "E_SAFETENSORS_OVERLAP",
        `tensors ${JSON.stringify(prev.name)} [${prev.begin}, ${prev.end}) and ${JSON.stringify(cur.name)} [${cur.begin}, ${cur.end}) overlap`,
        {
          a: prev.name,
          b: cur.name,
        },
      );
    }
  }
  return { entries, metadata };
}

/**
 * The tensor of entry `e` over `raw`, exactly its bytes: a view when `raw` is aligned for the dtype, an aligned copy
 * otherwise, and for BF16 read as float32 a new float32 array.
 */
function tensorOf(e: Entry, raw: Uint8Array): Tensor {
  const info = dtypeInfo(e.dtype);
  const count = shapeSize(e.shape);
  let storage: InstanceType<typeof info.ctor>;
  if (e.bf16) {
    // bf16 bits are the high half of the float32 bits
    const bits = new Uint32Array(count);
    const dv = new DataView(raw.buffer, raw.byteOffset, count * 2);
    for (let i = 0; i < count; i++) bits[i] = dv.getUint16(2 * i, true) << 16;
    storage = new Float32Array(bits.buffer);
  } else if (raw.byteOffset % info.byteSize === 0) storage = new info.ctor(raw.buffer, raw.byteOffset, count);
  else {
    // unaligned: copy the bytes into a fresh aligned buffer
    const copy = new Uint8Array(count * info.byteSize);
    copy.set(raw);
    storage = new info.ctor(copy.buffer, 0, count);
  }
  return new Tensor(e.dtype, storage, makeLayout(e.shape));
}

/**
 * Serialises tensors (copied, in C order) and optional metadata into safetensors bytes. Tensors are laid out
 * by descending dtype size, then name, so every tensor starts aligned to its dtype size when read back.
 */
export function writeSafetensors(
  tensors: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  const list: [string, Tensor][] =
    tensors instanceof Map
      ? [...(tensors as ReadonlyMap<string, Tensor>).entries()]
      : Object.entries(tensors as Record<string, Tensor>);
  for (const [name] of list) {
    if (name === "__metadata__") fail("E_SAFETENSORS_HEADER", "a tensor cannot be named __metadata__", {});
  }
  list.sort(
    ([na, a], [nb, b]) =>
      dtypeInfo(b.dtype).byteSize - dtypeInfo(a.dtype).byteSize || (na < nb ? -1 : na > nb ? 1 : 0),
  );
  const header: Record<string, unknown> = {};
  if (metadata !== undefined && Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  let offset = 0;
  for (const [name, t] of list) {
    header[name] = {
      dtype: TO_ST[t.dtype],
      shape: [...t.shape],
      data_offsets: [offset, offset + t.byteSize],
    };
    offset += t.byteSize;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const [, t] of list) {
    const d = t.contiguous().data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
    at += d.byteLength;
  }
  return out;
}

/** Largest file read whole (one `readFileSync`); Node cannot read more in one call. */
const MAX_WHOLE_READ = 2 ** 31 - 1;

/**
 * Reads a safetensors file from disk. Tensors are views of the file's bytes read whole; a file over 2 GiB (a Hugging
 * Face shard can be 5 GB) is read tensor by tensor instead, each tensor into its own buffer (no extra copy either).
 */
export function loadSafetensors(path: string, options: ReadSafetensorsOptions = {}): SafetensorsFile {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    if (size <= MAX_WHOLE_READ) return readSafetensors(readFileSync(fd), options);
    const readAt = (length: number, position: number): Uint8Array => {
      const out = new Uint8Array(length);
      for (let got = 0; got < length; ) {
        const n = readSync(fd, out, got, Math.min(length - got, MAX_WHOLE_READ), position + got);
        if (n === 0)
          fail("E_SAFETENSORS_HEADER", `file ended at byte ${position + got} of ${size}`, { size });
        got += n;
      }
      return out;
    };
    const first8 = readAt(8, 0);
    const n = headerLength(new DataView(first8.buffer), size);
    const dataStart = 8 + n;
    const { entries, metadata } = parseHeader(readAt(n, 8), size - dataStart, options.bf16 ?? "error");
    const tensors = new Map<string, Tensor>();
    for (const e of entries) tensors.set(e.name, tensorOf(e, readAt(e.end - e.begin, dataStart + e.begin)));
    return { tensors, metadata };
  } finally {
    closeSync(fd);
  }
}

/** Writes a safetensors file to disk. */
export function saveSafetensors(
  path: string,
  tensors: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>,
  metadata?: Readonly<Record<string, string>>,
): void {
  writeFileSync(path, writeSafetensors(tensors, metadata));
}
