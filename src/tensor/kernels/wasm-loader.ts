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

/** An instantiated kernel module and the memory it imports. */
export interface LoadedKernel {
  memory: WasmMemory;
  exports: Record<string, unknown>;
}

/** Instantiates `wasm/<name>.wasm`; returns null when it cannot load (no SIMD support, file missing). */
export function loadWasmKernel(name: string, pages: number): LoadedKernel | null {
  try {
    const bytes = readFileSync(new URL(`./wasm/${name}.wasm`, import.meta.url));
    const memory = new WA.Memory({ initial: pages });
    const inst = new WA.Instance(new WA.Module(bytes), { env: { memory } });
    return { memory, exports: inst.exports };
  } catch {
    return null;
  }
}

/**
 * A kernel module loaded on first use (at most once) and bound by `bind`, with an on/off switch that tests and
 * benchmarks use to compare it with the JS kernels.
 */
export class LazyWasmKernel<M> {
  private mod: M | null | undefined;
  /** When false, `get()` returns null (callers take their JS path). */
  enabled = true;

  constructor(
    private readonly name: string,
    private readonly pages: number,
    private readonly bind: (k: LoadedKernel) => M,
  ) {}

  /** The bound module; null when disabled or when it cannot load. */
  get(): M | null {
    if (!this.enabled) return null;
    if (this.mod === undefined) {
      const k = loadWasmKernel(this.name, this.pages);
      this.mod = k === null ? null : this.bind(k);
    }
    return this.mod;
  }
}
