/**
 * Zstandard decompression (RFC 8878) in plain JS, for ZSTD-compressed Parquet pages (Polars' default codec).
 * Frames (several, and skippable ones), raw/RLE/compressed blocks, Huffman-coded literals (1 or 4 streams, FSE- or
 * directly-coded weights, treeless reuse), FSE-coded sequences (predefined, RLE, compressed and repeated tables),
 * repeat offsets. Not supported (throws): dictionaries. The content checksum is skipped; callers check the size.
 * Checked against the zstd 1.5 CLI at levels 1–22 on text, numeric and random data (test/pipeline/zstd.test.ts).
 */
import { PipelineError } from "../errors.ts";

function corrupt(what: string): PipelineError {
  return new PipelineError("E_PIPELINE_FORMAT", `corrupt ZSTD data: ${what}`, { codec: "ZSTD" });
}

function highBit(x: number): number {
  return 31 - Math.clz32(x);
}

/** Reads bits backward (from the end of `[start, end)` toward its start), most recent bits highest. */
class BackwardBits {
  /** Bits left above `start` (negative once the reader went past the start: those bits read as 0). */
  bits: number;
  constructor(
    private readonly buf: Uint8Array,
    private readonly start: number,
    end: number,
  ) {
    const last = buf[end - 1];
    if (end <= start || !last) throw corrupt("bitstream without its end marker");
    this.bits = (end - start - 1) * 8 + highBit(last);
  }
  private peek(pos: number, n: number): number {
    if (pos < 0) return n + pos > 0 ? this.peek(0, n + pos) * 2 ** -pos : 0;
    const b = this.start + (pos >> 3);
    const buf = this.buf;
    const v =
      (buf[b] ?? 0) | ((buf[b + 1] ?? 0) << 8) | ((buf[b + 2] ?? 0) << 16) | ((buf[b + 3] ?? 0) << 24);
    return (v >>> (pos & 7)) & ((1 << n) - 1);
  }
  read(n: number): number {
    if (n === 0) return 0;
    if (n > 24) {
      const hi = this.read(n - 16);
      return hi * 65536 + this.read(16);
    }
    this.bits -= n;
    return this.peek(this.bits, n);
  }
}

/** A decoding table: per state its symbol, the bits to read and the base of the next state. */
interface FseTable {
  readonly log: number;
  readonly symbol: Uint8Array;
  readonly nbBits: Uint8Array;
  readonly base: Uint16Array;
}

function buildFse(norm: readonly number[], log: number): FseTable {
  const size = 1 << log;
  const symbol = new Uint8Array(size);
  const nbBits = new Uint8Array(size);
  const base = new Uint16Array(size);
  const next = new Array<number>(norm.length);
  let high = size - 1;
  for (let s = 0; s < norm.length; s++) {
    if (norm[s] === -1) {
      symbol[high--] = s;
      next[s] = 1;
    } else next[s] = norm[s]!;
  }
  const step = (size >> 1) + (size >> 3) + 3;
  let pos = 0;
  for (let s = 0; s < norm.length; s++) {
    for (let i = 0; i < norm[s]!; i++) {
      symbol[pos] = s;
      do pos = (pos + step) & (size - 1);
      while (pos > high);
    }
  }
  if (pos !== 0) throw corrupt("FSE table does not spread evenly");
  for (let i = 0; i < size; i++) {
    const s = symbol[i]!;
    const n = next[s]!;
    next[s] = n + 1;
    const bits = log - highBit(n);
    nbBits[i] = bits;
    base[i] = (n << bits) - size;
  }
  return { log, symbol, nbBits, base };
}

/** Reads an FSE table description (normalized counts) at `at`; returns the table and the bytes used. */
function readFse(
  buf: Uint8Array,
  at: number,
  end: number,
  maxLog: number,
  maxSymbol: number,
): [FseTable, number] {
  let bitPos = 0;
  const readBits = (n: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++) {
      const p = bitPos + i;
      const byte = at + (p >> 3);
      if (byte >= end) throw corrupt("FSE table description runs past its section");
      v |= ((buf[byte]! >> (p & 7)) & 1) << i;
    }
    bitPos += n;
    return v;
  };
  const log = readBits(4) + 5;
  if (log > maxLog) throw corrupt(`FSE accuracy log ${log} over ${maxLog}`);
  let remaining = (1 << log) + 1;
  let threshold = 1 << log;
  let nb = log + 1;
  const norm: number[] = [];
  while (remaining > 1) {
    if (norm.length > maxSymbol) throw corrupt("FSE table has too many symbols");
    const max = 2 * threshold - 1 - remaining;
    let value: number;
    const low = readBits(nb - 1);
    if (low < max) value = low;
    else {
      value = low + (readBits(1) << (nb - 1));
      if (value >= threshold) value -= max;
    }
    const count = value - 1;
    remaining -= count < 0 ? -count : count;
    norm.push(count);
    if (count === 0) {
      for (;;) {
        const zeros = readBits(2);
        for (let i = 0; i < zeros; i++) norm.push(0);
        if (zeros !== 3) break;
      }
    }
    while (remaining < threshold) {
      nb--;
      threshold >>= 1;
    }
  }
  if (remaining !== 1) throw corrupt("FSE counts do not add up");
  return [buildFse(norm, log), (bitPos + 7) >> 3];
}

// Predefined distributions and code tables (RFC 8878 3.1.1.3.2.2 and 3.1.1.3.2.1.1).
const LL_DEFAULT = buildFse(
  [
    4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 2, 1, 1, 1, 1, 1, -1, -1,
    -1, -1,
  ],
  6,
);
const ML_DEFAULT = buildFse(
  [
    1, 4, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1,
  ],
  6,
);
const OF_DEFAULT = buildFse(
  [1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1],
  5,
);
const LL_BASE = [
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 20, 22, 24, 28, 32, 40, 48, 64, 128, 256, 512,
  1024, 2048, 4096, 8192, 16384, 32768, 65536,
];
const LL_BITS = [
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14,
  15, 16,
];
const ML_BASE = [
  3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
  32, 33, 34, 35, 37, 39, 41, 43, 47, 51, 59, 67, 83, 99, 131, 259, 515, 1027, 2051, 4099, 8195, 16387, 32771,
  65539,
];
const ML_BITS = [
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1,
  2, 2, 3, 3, 4, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
];

function rleTable(symbol: number): FseTable {
  return {
    log: 0,
    symbol: Uint8Array.of(symbol),
    nbBits: Uint8Array.of(0),
    base: Uint16Array.of(0),
  };
}

/** Huffman decoding table: `2^maxBits` entries of symbol + code length. */
interface HuffTable {
  readonly maxBits: number;
  readonly symbol: Uint8Array;
  readonly nbBits: Uint8Array;
}

/** Reads a Huffman tree description at `at`; returns the table and the bytes used. */
function readHuffman(buf: Uint8Array, at: number, end: number): [HuffTable, number] {
  const header = buf[at];
  if (header === undefined) throw corrupt("missing Huffman tree description");
  const weights: number[] = [];
  let used: number;
  if (header < 128) {
    used = 1 + header;
    if (at + used > end) throw corrupt("Huffman weights run past the block");
    const [table, n] = readFse(buf, at + 1, at + used, 6, 255);
    const bits = new BackwardBits(buf, at + 1 + n, at + used);
    let s1 = bits.read(table.log);
    let s2 = bits.read(table.log);
    for (;;) {
      if (weights.length > 255) throw corrupt("too many Huffman weights");
      weights.push(table.symbol[s1]!);
      s1 = table.base[s1]! + bits.read(table.nbBits[s1]!);
      if (bits.bits < 0) {
        weights.push(table.symbol[s2]!);
        break;
      }
      weights.push(table.symbol[s2]!);
      s2 = table.base[s2]! + bits.read(table.nbBits[s2]!);
      if (bits.bits < 0) {
        weights.push(table.symbol[s1]!);
        break;
      }
    }
  } else {
    const n = header - 127;
    used = 1 + ((n + 1) >> 1);
    if (at + used > end) throw corrupt("Huffman weights run past the block");
    for (let i = 0; i < n; i++) {
      const byte = buf[at + 1 + (i >> 1)]!;
      weights.push(i & 1 ? byte & 15 : byte >> 4);
    }
  }
  let sum = 0;
  for (const w of weights) {
    if (w > 11) throw corrupt(`Huffman weight ${w} over 11`);
    if (w > 0) sum += 1 << (w - 1);
  }
  if (sum === 0) throw corrupt("Huffman weights are all zero");
  const maxBits = highBit(sum) + 1;
  if (maxBits > 11) throw corrupt(`Huffman code length ${maxBits} over 11`);
  const rest = (1 << maxBits) - sum;
  if (rest & (rest - 1)) throw corrupt("Huffman weights do not complete a tree");
  weights.push(highBit(rest) + 1);
  const size = 1 << maxBits;
  const symbol = new Uint8Array(size);
  const nbBits = new Uint8Array(size);
  const rankStart = new Array<number>(maxBits + 2).fill(0);
  const rankCount = new Array<number>(maxBits + 2).fill(0);
  for (const w of weights) rankCount[w]!++;
  let next = 0;
  for (let w = 1; w <= maxBits; w++) {
    rankStart[w] = next;
    next += rankCount[w]! << (w - 1);
  }
  for (let s = 0; s < weights.length; s++) {
    const w = weights[s]!;
    if (w === 0) continue;
    const len = 1 << (w - 1);
    const from = rankStart[w]!;
    symbol.fill(s, from, from + len);
    nbBits.fill(maxBits + 1 - w, from, from + len);
    rankStart[w] = from + len;
  }
  return [{ maxBits, symbol, nbBits }, used];
}

function decodeHuffStream(
  t: HuffTable,
  buf: Uint8Array,
  start: number,
  end: number,
  out: Uint8Array,
  from: number,
  to: number,
): void {
  const bits = new BackwardBits(buf, start, end);
  const mask = (1 << t.maxBits) - 1;
  let state = bits.read(t.maxBits);
  for (let i = from; i < to; i++) {
    out[i] = t.symbol[state]!;
    const nb = t.nbBits[state]!;
    state = ((state << nb) & mask) | bits.read(nb);
  }
  if (bits.bits !== -t.maxBits) throw corrupt("Huffman stream length does not match its literals");
}

/** Per-frame decoding state that blocks share. */
interface FrameState {
  huffman: HuffTable | null;
  ll: FseTable | null;
  of: FseTable | null;
  ml: FseTable | null;
  readonly rep: number[];
}

/** Most bytes one block decodes to (Block_Maximum_Size). */
const BLOCK_MAX = 128 << 10;

/** Growable output buffer. */
class Output {
  buf: Uint8Array;
  pos = 0;
  /** No block may decode past this position (the expected size, or the current block's 128 KiB limit). */
  limit = Number.POSITIVE_INFINITY;
  constructor(
    capacity: number,
    private readonly max: number,
  ) {
    this.buf = new Uint8Array(Math.max(capacity, 64));
  }
  ensure(extra: number): void {
    if (this.pos + extra > Math.min(this.limit, this.max))
      throw corrupt(
        this.pos + extra > this.max ? "more output than the page size" : "a block decodes to over 128 KiB",
      );
    if (this.pos + extra <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.pos + extra));
    grown.set(this.buf.subarray(0, this.pos));
    this.buf = grown;
  }
}

function readLiterals(buf: Uint8Array, at: number, end: number, st: FrameState): [Uint8Array, number] {
  if (at >= end) throw corrupt("empty compressed block");
  const b0 = buf[at]!;
  const type = b0 & 3;
  const sizeFormat = (b0 >> 2) & 3;
  if (type === 0 || type === 1) {
    let size: number;
    let h: number;
    if (sizeFormat === 0 || sizeFormat === 2) {
      size = b0 >> 3;
      h = 1;
    } else if (sizeFormat === 1) {
      size = (b0 >> 4) + (buf[at + 1]! << 4);
      h = 2;
    } else {
      size = (b0 >> 4) + (buf[at + 1]! << 4) + (buf[at + 2]! << 12);
      h = 3;
    }
    if (type === 0) {
      if (at + h + size > end) throw corrupt("raw literals run past the block");
      return [buf.subarray(at + h, at + h + size), h + size];
    }
    if (at + h >= end) throw corrupt("RLE literals without their byte");
    return [new Uint8Array(size).fill(buf[at + h]!), h + 1];
  }
  const streams = sizeFormat === 0 ? 1 : 4;
  const h = sizeFormat < 2 ? 3 : sizeFormat === 2 ? 4 : 5;
  const bitsEach = sizeFormat < 2 ? 10 : sizeFormat === 2 ? 14 : 18;
  let header = 0;
  for (let i = h - 1; i >= 0; i--) header = header * 256 + buf[at + i]!;
  const regen = Math.floor(header / 16) % 2 ** bitsEach;
  const comp = Math.floor(header / 2 ** (4 + bitsEach)) % 2 ** bitsEach;
  let p = at + h;
  const sectionEnd = p + comp;
  if (sectionEnd > end) throw corrupt("compressed literals run past the block");
  if (type === 2) {
    const [table, used] = readHuffman(buf, p, sectionEnd);
    st.huffman = table;
    p += used;
  } else if (st.huffman === null) throw corrupt("treeless literals without a previous Huffman table");
  const out = new Uint8Array(regen);
  if (streams === 1) decodeHuffStream(st.huffman!, buf, p, sectionEnd, out, 0, regen);
  else {
    const s1 = buf[p]! | (buf[p + 1]! << 8);
    const s2 = buf[p + 2]! | (buf[p + 3]! << 8);
    const s3 = buf[p + 4]! | (buf[p + 5]! << 8);
    p += 6;
    const seg = Math.ceil(regen / 4);
    const starts = [p, p + s1, p + s1 + s2, p + s1 + s2 + s3, sectionEnd];
    if (starts[3]! > sectionEnd) throw corrupt("literal stream sizes run past the section");
    for (let k = 0; k < 4; k++) {
      decodeHuffStream(
        st.huffman!,
        buf,
        starts[k]!,
        starts[k + 1]!,
        out,
        Math.min(regen, k * seg),
        Math.min(regen, (k + 1) * seg),
      );
    }
  }
  return [out, h + comp];
}

function readTable(
  mode: number,
  buf: Uint8Array,
  p: number,
  end: number,
  fallback: FseTable,
  previous: FseTable | null,
  maxLog: number,
  maxSymbol: number,
): [FseTable, number] {
  switch (mode) {
    case 0:
      return [fallback, 0];
    case 1:
      return [rleTable(buf[p]!), 1];
    case 2:
      return readFse(buf, p, end, maxLog, maxSymbol);
    default:
      if (previous === null) throw corrupt("repeated sequence table without a previous one");
      return [previous, 0];
  }
}

function decodeBlock(
  buf: Uint8Array,
  at: number,
  end: number,
  st: FrameState,
  out: Output,
  frameStart: number,
): void {
  const [literals, litUsed] = readLiterals(buf, at, end, st);
  let p = at + litUsed;
  const b0 = buf[p++];
  if (b0 === undefined) throw corrupt("missing sequences section");
  let nbSeq = b0;
  if (b0 >= 128) {
    if (b0 < 255) nbSeq = ((b0 - 128) << 8) + buf[p++]!;
    else {
      nbSeq = buf[p]! + (buf[p + 1]! << 8) + 0x7f00;
      p += 2;
    }
  }
  let litPos = 0;
  if (nbSeq > 0) {
    const modes = buf[p++]!;
    let used: number;
    [st.ll, used] = readTable(modes >> 6, buf, p, end, LL_DEFAULT, st.ll, 9, 35);
    p += used;
    [st.of, used] = readTable((modes >> 4) & 3, buf, p, end, OF_DEFAULT, st.of, 8, 31);
    p += used;
    [st.ml, used] = readTable((modes >> 2) & 3, buf, p, end, ML_DEFAULT, st.ml, 9, 52);
    p += used;
    const ll = st.ll;
    const of = st.of;
    const ml = st.ml;
    const bits = new BackwardBits(buf, p, end);
    let sLL = bits.read(ll.log);
    let sOF = bits.read(of.log);
    let sML = bits.read(ml.log);
    const rep = st.rep;
    for (let i = 0; i < nbSeq; i++) {
      const ofCode = of.symbol[sOF]!;
      const llCode = ll.symbol[sLL]!;
      const mlCode = ml.symbol[sML]!;
      if (ofCode > 31 || llCode > 35 || mlCode > 52) throw corrupt("sequence code out of range");
      const offsetValue = 2 ** ofCode + bits.read(ofCode);
      const matchLength = ML_BASE[mlCode]! + bits.read(ML_BITS[mlCode]!);
      const literalLength = LL_BASE[llCode]! + bits.read(LL_BITS[llCode]!);
      let offset: number;
      if (offsetValue > 3) {
        offset = offsetValue - 3;
        rep[2] = rep[1]!;
        rep[1] = rep[0]!;
        rep[0] = offset;
      } else {
        const idx = offsetValue - 1 + (literalLength === 0 ? 1 : 0);
        if (idx === 0) offset = rep[0]!;
        else {
          offset = idx === 3 ? rep[0]! - 1 : rep[idx]!;
          if (idx > 1) rep[2] = rep[1]!;
          rep[1] = rep[0]!;
          rep[0] = offset;
        }
      }
      if (i < nbSeq - 1) {
        sLL = ll.base[sLL]! + bits.read(ll.nbBits[sLL]!);
        sML = ml.base[sML]! + bits.read(ml.nbBits[sML]!);
        sOF = of.base[sOF]! + bits.read(of.nbBits[sOF]!);
      }
      if (litPos + literalLength > literals.length)
        throw corrupt("sequence takes more literals than decoded");
      out.ensure(literalLength + matchLength);
      const o = out.buf;
      o.set(literals.subarray(litPos, litPos + literalLength), out.pos);
      out.pos += literalLength;
      litPos += literalLength;
      if (offset < 1 || offset > out.pos - frameStart)
        throw corrupt(`match offset ${offset} before the frame`);
      let from = out.pos - offset;
      if (offset >= matchLength) {
        o.copyWithin(out.pos, from, from + matchLength);
        out.pos += matchLength;
      } else {
        for (let k = 0; k < matchLength; k++) o[out.pos++] = o[from++]!;
      }
    }
    if (bits.bits !== 0) throw corrupt("sequence bitstream not fully consumed");
  }
  const rest = literals.length - litPos;
  out.ensure(rest);
  out.buf.set(literals.subarray(litPos), out.pos);
  out.pos += rest;
}

/**
 * Decompresses zstd data (one or more frames). `outputLength`, when known (Parquet page headers give it), sizes
 * the output and is checked.
 */
export function zstdDecompress(input: Uint8Array, outputLength?: number): Uint8Array {
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const out = new Output(outputLength ?? input.length * 4, outputLength ?? Number.POSITIVE_INFINITY);
  let p = 0;
  while (p < input.length) {
    if (p + 4 > input.length) throw corrupt("truncated frame header");
    const magic = view.getUint32(p, true);
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      if (p + 8 > input.length) throw corrupt("truncated skippable frame header");
      p += 8 + view.getUint32(p + 4, true);
      if (p > input.length) throw corrupt("skippable frame runs past the input");
      continue;
    }
    if (magic !== 0xfd2fb528) throw corrupt("bad frame magic number");
    p += 4;
    const fhd = input[p++]!;
    const fcsFlag = fhd >> 6;
    const single = (fhd >> 5) & 1;
    const checksum = (fhd >> 2) & 1;
    const dictFlag = fhd & 3;
    if (fhd & 8) throw corrupt("reserved frame header bit set");
    if (!single) p++; // window descriptor: the whole output is kept, so any window fits
    const dictBytes = [0, 1, 2, 4][dictFlag]!;
    let dictId = 0;
    for (let i = 0; i < dictBytes; i++) dictId += input[p + i]! * 256 ** i;
    p += dictBytes;
    if (dictId !== 0) throw corrupt(`frame needs dictionary ${dictId}`);
    p += [single, 2, 4, 8][fcsFlag]!;
    const st: FrameState = { huffman: null, ll: null, of: null, ml: null, rep: [1, 4, 8] };
    const frameStart = out.pos;
    for (;;) {
      if (p + 3 > input.length) throw corrupt("truncated block header");
      const bh = input[p]! | (input[p + 1]! << 8) | (input[p + 2]! << 16);
      p += 3;
      const last = bh & 1;
      const type = (bh >> 1) & 3;
      const size = bh >>> 3;
      if (size > BLOCK_MAX) throw corrupt("a block over 128 KiB");
      if (type === 0) {
        if (p + size > input.length) throw corrupt("raw block runs past the input");
        out.ensure(size);
        out.buf.set(input.subarray(p, p + size), out.pos);
        out.pos += size;
        p += size;
      } else if (type === 1) {
        if (p >= input.length) throw corrupt("RLE block without its byte");
        out.ensure(size);
        out.buf.fill(input[p]!, out.pos, out.pos + size);
        out.pos += size;
        p += 1;
      } else if (type === 2) {
        if (p + size > input.length) throw corrupt("compressed block runs past the input");
        out.limit = out.pos + BLOCK_MAX;
        decodeBlock(input, p, p + size, st, out, frameStart);
        out.limit = Number.POSITIVE_INFINITY;
        p += size;
      } else throw corrupt("reserved block type");
      if (last) break;
    }
    if (checksum) {
      p += 4;
      if (p > input.length) throw corrupt("truncated content checksum");
    }
  }
  if (outputLength !== undefined && out.pos !== outputLength)
    throw corrupt(`decoded ${out.pos} bytes, the page header says ${outputLength}`);
  return out.pos === out.buf.length ? out.buf : out.buf.slice(0, out.pos);
}
