/**
 * Elementwise float32 add: which kernel comes closest to Float32Array.prototype.set bandwidth?
 *
 *   node --import tsx bench/tensor/add-variants.ts [--quick]
 *
 * GB/s counts bytes read + written by each side: set reads n and writes n floats (8 B/element); add reads a and b
 * and writes o (12 B/element). Each variant is timed as best of reps after warm-up, in one run with its baseline.
 * This is the exploration behind the kernel choice in src/tensor/ops/binary.ts (see bench/RESULTS.md ## tensor).
 */
import { addFlat } from "../../src/tensor/kernels/flat.ts";
import { loadWasmKernel } from "../../src/tensor/kernels/wasm-loader.ts";
import { add, rng, zeros } from "../../src/tensor/index.ts";

const quick = process.argv.includes("--quick");

function best(fn: () => void, reps: number): number {
  for (let w = 0; w < 5; w++) fn();
  let b = Number.POSITIVE_INFINITY;
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    fn();
    b = Math.min(b, performance.now() - t);
  }
  return b;
}

function jsSimple(a: Float32Array, b: Float32Array, o: Float32Array): void {
  for (let i = 0; i < o.length; i++) o[i] = a[i]! + b[i]!;
}

function jsUnroll4(a: Float32Array, b: Float32Array, o: Float32Array): void {
  const n = o.length;
  if (a.length < n || b.length < n) throw new RangeError("short operand");
  let i = 0;
  for (const e = n - 3; i < e; i += 4) {
    o[i] = a[i]! + b[i]!;
    o[i + 1] = a[i + 1]! + b[i + 1]!;
    o[i + 2] = a[i + 2]! + b[i + 2]!;
    o[i + 3] = a[i + 3]! + b[i + 3]!;
  }
  for (; i < n; i++) o[i] = a[i]! + b[i]!;
}

function jsUnroll16(a: Float32Array, b: Float32Array, o: Float32Array): void {
  const n = o.length;
  let i = 0;
  for (const e = n - 15; i < e; i += 16) {
    for (let j = i; j < i + 16; j += 4) {
      o[j] = a[j]! + b[j]!;
      o[j + 1] = a[j + 1]! + b[j + 1]!;
      o[j + 2] = a[j + 2]! + b[j + 2]!;
      o[j + 3] = a[j + 3]! + b[j + 3]!;
    }
  }
  for (; i < n; i++) o[i] = a[i]! + b[i]!;
}

type VV = (a: number, b: number, o: number, n: number) => void;
const k = loadWasmKernel("ewise", 64);
if (k === null) throw new Error("ewise.wasm did not load");
const addVV = k.exports.addVV as VV;
const mem = k.memory.buffer;

/**
 * Chunked copy-in / SIMD add / copy-out, CH elements per chunk; result in `o`. With 3 buffers the sum goes to
 * its own chunk; with 2 it is written over the a-chunk (smaller cache footprint: what kernels/ewise-wasm.ts does).
 */
function wasmChunked(CH: number, bufs: 2 | 3) {
  const wa = new Float32Array(mem, 0, CH);
  const wb = new Float32Array(mem, CH * 4, CH);
  const outAt = bufs === 3 ? CH * 8 : 0;
  const wo = new Float32Array(mem, outAt, CH);
  return (a: Float32Array, b: Float32Array, o: Float32Array) => {
    const n = o.length;
    for (let s = 0; s < n; s += CH) {
      const e = Math.min(n, s + CH);
      wa.set(a.subarray(s, e));
      wb.set(b.subarray(s, e));
      addVV(0, CH * 4, outAt, e - s);
      o.set(e - s === CH ? wo : wo.subarray(0, e - s), s);
    }
  };
}

const g = rng(1);
for (const n of quick ? [1 << 20] : [1 << 16, 1 << 20, 1 << 24]) {
  const ta = g.uniform([n]);
  const tb = g.uniform([n]);
  const tout = zeros([n]);
  const a = ta.data as Float32Array;
  const b = tb.data as Float32Array;
  const o = tout.data as Float32Array;
  const ref = new Float32Array(n);
  jsSimple(a, b, ref);
  const reps = n >= 1 << 24 ? 11 : n >= 1 << 20 ? 31 : 301;
  const setMs = best(() => o.set(a), reps);
  const setGB = (8 * n) / setMs / 1e6;
  console.log(`n=${n}: set ${setGB.toFixed(1)} GB/s (${setMs.toFixed(3)} ms)`);
  const variants: [string, (a: Float32Array, b: Float32Array, o: Float32Array) => void][] = [
    ["js simple", jsSimple],
    ["js unroll4", jsUnroll4],
    ["js unroll8 (addFlat)", addFlat],
    ["js unroll16", jsUnroll16],
    ...[1024, 2048, 4096, 8192, 16384, 65536].map(
      (c) => [`wasm chunk ${c} (3 bufs)`, wasmChunked(c, 3)] as [string, typeof jsSimple],
    ),
    ...[4096, 8192, 16384, 32768].map(
      (c) => [`wasm chunk ${c} (2 bufs)`, wasmChunked(c, 2)] as [string, typeof jsSimple],
    ),
    ["add(a, b, {out}) (library)", () => add(ta, tb, { out: tout })],
  ];
  for (const [name, fn] of variants) {
    o.fill(0);
    fn(a, b, o);
    for (let i = 0; i < n; i += 997) if (o[i] !== ref[i]) throw new Error(`${name}: wrong at ${i}`);
    const ms = best(() => fn(a, b, o), reps);
    const gb = (12 * n) / ms / 1e6;
    console.log(`  ${name.padEnd(30)} ${gb.toFixed(1).padStart(6)} GB/s  ${(gb / setGB).toFixed(2)}× set`);
  }
}
