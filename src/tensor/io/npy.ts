/**
 * NumPy `.npy` read/write (format versions 1.0, 2.0 and 3.0).
 *
 * Layout: `\x93NUMPY`, major, minor, header length (u16 LE in v1, u32 LE in v2/v3), then a Python dict
 * literal `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with spaces and `\n`, then data.
 *
 * Reading returns a view of the given bytes when the data is little-endian (or single-byte) and aligned;
 * big-endian data is byte-swapped into a copy. `fortran_order: True` gives a view with column-major strides.
 * Unknown descr, a malformed header, a header longer than the file or a data size that does not match the
 * shape throws `TesseraError` (E_NPY_*), never a view outside the buffer.
 */
import { constants as bufferConstants } from "node:buffer";
import { closeSync, fstatSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { type DType, dtypeInfo } from "../dtype.ts";
import { fmtShape, TesseraError } from "../errors.ts";
import { makeLayout, shapeSize } from "../layout.ts";
import { Tensor } from "../tensor.ts";

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** descr type code (without byte-order char) → dtype. */
const FROM_DESCR: Readonly<Record<string, DType>> = {
  f8: "float64",
  f4: "float32",
  f2: "float16",
  i8: "int64",
  i4: "int32",
  i2: "int16",
  i1: "int8",
  u1: "uint8",
  b1: "bool",
};
const TO_DESCR: Readonly<Record<DType, string>> = {
  float64: "<f8",
  float32: "<f4",
  float16: "<f2",
  int64: "<i8",
  int32: "<i4",
  int16: "<i2",
  int8: "|i1",
  uint8: "|u1",
  bool: "|b1",
};

function fail(code: string, message: string, facts: Record<string, unknown> = {}): never {
  throw new TesseraError(code, `npy: ${message}`, facts);
}

interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
}

/** Parses the restricted Python literal of an npy header. */
function parseHeader(text: string): NpyHeader {
  const t = text.trim();
  if (!t.startsWith("{") || !t.endsWith("}"))
    fail("E_NPY_HEADER", `header is not a dict literal: ${JSON.stringify(t.slice(0, 80))}`);
  const body = t.slice(1, -1);
  const re = /\s*'([a-z_]+)'\s*:\s*('(?:[^'\\]*)'|True|False|\((?:\s*\d+\s*,?)*\s*\))\s*,?/gy;
  const found: Record<string, string> = {};
  let m: RegExpExecArray | null;
  let last = 0;
  // biome-ignore lint/suspicious/noAssignInExpressions: regex scan loop
  while ((m = re.exec(body)) !== null) {
    found[m[1]!] = m[2]!;
    last = re.lastIndex;
    if (last >= body.length) break;
  }
  if (body.slice(last).trim() !== "")
    fail("E_NPY_HEADER", `cannot parse header near ${JSON.stringify(body.slice(last, last + 40))}`);
  const descr = found.descr;
  const fo = found.fortran_order;
  const shape = found.shape;
  if (descr === undefined || fo === undefined || shape === undefined) {
    fail(
      "E_NPY_HEADER",
      `header must have 'descr', 'fortran_order' and 'shape', got keys ${Object.keys(found).join(", ")}`,
    );
  }
  if (!descr.startsWith("'"))
    fail("E_NPY_DTYPE", `descr must be a simple type string, got ${descr}`, { descr });
  const dims = shape
    .slice(1, -1)
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map(Number);
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) fail("E_NPY_HEADER", `invalid shape ${shape}`);
  if (fo !== "True" && fo !== "False") fail("E_NPY_HEADER", `fortran_order must be True or False, got ${fo}`);
  return { descr: descr.slice(1, -1), fortranOrder: fo === "True", shape: dims };
}

/** Parses `.npy` bytes into a tensor (a view of `buf` when possible; see module doc). */
export function readNpy(buf: ArrayBufferLike | ArrayBufferView): Tensor {
  const bytes = ArrayBuffer.isView(buf)
    ? new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
    : new Uint8Array(buf);
  if (bytes.byteLength < 10 || MAGIC.some((b, i) => bytes[i] !== b))
    fail("E_NPY_HEADER", "missing \\x93NUMPY magic", { byteLength: bytes.byteLength });
  const major = bytes[6]!;
  const minor = bytes[7]!;
  if (major < 1 || major > 3 || minor !== 0)
    fail("E_NPY_VERSION", `unsupported format version ${major}.${minor}; supported 1.0, 2.0, 3.0`, {
      major,
      minor,
    });
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenSize = major === 1 ? 2 : 4;
  if (bytes.byteLength < 8 + lenSize) fail("E_NPY_HEADER", "file ends inside the header length field");
  const hlen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const dataStart = 8 + lenSize + hlen;
  if (dataStart > bytes.byteLength)
    fail("E_NPY_HEADER", `header length ${hlen} runs past the end of the ${bytes.byteLength}-byte file`, {
      headerLength: hlen,
      byteLength: bytes.byteLength,
    });
  let text: string;
  try {
    text = new TextDecoder(major === 3 ? "utf-8" : "latin1", { fatal: true }).decode(
      bytes.subarray(8 + lenSize, dataStart),
    );
  } catch {
    fail("E_NPY_HEADER", "header is not valid text");
  }
  const h = parseHeader(text);
  const order = h.descr[0];
  const code = h.descr.slice(1);
  const dtype = FROM_DESCR[code];
  if (dtype === undefined || (order !== "<" && order !== ">" && order !== "|" && order !== "=")) {
    fail(
      "E_NPY_DTYPE",
      `unsupported descr ${JSON.stringify(h.descr)}; supported: ${Object.keys(FROM_DESCR).join(", ")} (any byte order)`,
      { descr: h.descr },
    );
  }
  const info = dtypeInfo(dtype);
  const count = shapeSize(h.shape);
  const need = count * info.byteSize;
  const have = bytes.byteLength - dataStart;
  if (have !== need) {
    fail("E_NPY_SIZE", `${h.descr}${fmtShape(h.shape)} needs ${need} data bytes, file has ${have}`, {
      need,
      have,
      shape: h.shape,
    });
  }
  const bigEndian = order === ">" && info.byteSize > 1;
  const abs = bytes.byteOffset + dataStart;
  let storage: InstanceType<typeof info.ctor>;
  if (!bigEndian && abs % info.byteSize === 0) storage = new info.ctor(bytes.buffer, abs, count);
  else {
    const copy = new Uint8Array(need);
    copy.set(bytes.subarray(dataStart, dataStart + need));
    if (bigEndian) {
      const w = info.byteSize;
      for (let i = 0; i < need; i += w) copy.subarray(i, i + w).reverse();
    }
    storage = new info.ctor(copy.buffer, 0, count);
  }
  if (h.fortranOrder && h.shape.length > 1) {
    const strides: number[] = [];
    let s = 1;
    for (const d of h.shape) {
      strides.push(s);
      s *= Math.max(d, 1);
    }
    return new Tensor(dtype, storage, makeLayout(h.shape, strides, 0));
  }
  return new Tensor(dtype, storage, makeLayout(h.shape));
}

/** Serialises a tensor as `.npy` (C order, little-endian; version 1.0 unless the header needs 2.0). Copies. */
export function writeNpy(t: Tensor): Uint8Array {
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(", ")})`;
  const dict = `{'descr': '${TO_DESCR[t.dtype]}', 'fortran_order': False, 'shape': ${shape}, }`;
  let major = 1;
  let pre = 10;
  let total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  if (total - pre > 0xffff) {
    major = 2;
    pre = 12;
    total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  }
  const hlen = total - pre;
  const header = dict + " ".repeat(hlen - dict.length - 1) + "\n";
  const d = t.contiguous().data;
  const out = new Uint8Array(total + d.byteLength);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, hlen, true);
  else dv.setUint32(8, hlen, true);
  for (let i = 0; i < header.length; i++) out[pre + i] = header.charCodeAt(i);
  out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), total);
  return out;
}

const BUFFER_MAX_LENGTH = bufferConstants.MAX_LENGTH;

/** Largest file one `readFileSync` can read. */
const MAX_WHOLE_READ = 2 ** 31 - 1;

/** Reads a `.npy` file from disk (a file over 2 GiB is read in pieces into one buffer). */
export function loadNpy(path: string): Tensor {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    if (size <= MAX_WHOLE_READ) return readNpy(readFileSync(fd));
    // Not zero-filled (every byte is read next); a Buffer of its own, so the data is aligned at offset 0.
    const bytes = size <= BUFFER_MAX_LENGTH ? Buffer.allocUnsafeSlow(size) : new Uint8Array(size);
    for (let got = 0; got < size; ) {
      const n = readSync(fd, bytes, got, Math.min(size - got, MAX_WHOLE_READ), got);
      if (n === 0) break; // shorter than fstat said: readNpy reports the missing bytes
      got += n;
    }
    return readNpy(bytes);
  } finally {
    closeSync(fd);
  }
}

/** Writes a `.npy` file to disk. */
export function saveNpy(path: string, t: Tensor): void {
  writeFileSync(path, writeNpy(t));
}
