/**
 * Loads a committed WASM kernel module from `./wasm/<name>.wasm` with one imported linear memory.
 * The tsconfig lib has no WebAssembly declarations; the few members used are typed here.
 */
import { readFileSync } from "node:fs";

export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Memory: new (d: { initial: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

export const WASM_PAGE = 65536;

/** Instantiates `wasm/<name>.wasm`; returns null when it cannot load (no SIMD support, file missing). */
export function loadWasmKernel(
  name: string,
  pages: number,
): { memory: WasmMemory; exports: Record<string, unknown> } | null {
  try {
    const bytes = readFileSync(new URL(`./wasm/${name}.wasm`, import.meta.url));
    const memory = new WA.Memory({ initial: pages });
    const inst = new WA.Instance(new WA.Module(bytes), { env: { memory } });
    return { memory, exports: inst.exports };
  } catch {
    return null;
  }
}
