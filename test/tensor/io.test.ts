import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  arange,
  loadSafetensors,
  readNpy,
  readSafetensors,
  rng,
  saveSafetensors,
  TesseraError,
  tensor,
  writeNpy,
  writeSafetensors,
} from "../../src/tensor/index.ts";

const fx = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));

/** Builds a safetensors file from a raw header object and data bytes (for lying files). */
function rawSafetensors(header: unknown, data: Uint8Array, lengthOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

test("safetensors round trip keeps dtypes, shapes, values and metadata", () => {
  const g = rng(3);
  const tensors = {
    w: g.normal([3, 4]),
    b: tensor([1, 2, 3], "float64"),
    ids: tensor([1n, -2n]),
    h: tensor([1, 2, 3], "float16"),
    m: tensor([true, false, true]),
    i8: tensor([-1, 2], "int8"),
    empty: tensor([[], []]),
    nc: g.uniform([4, 5]).transpose(),
  };
  const bytes = writeSafetensors(tensors, { format: "pt", note: "é" });
  assert.equal(new DataView(bytes.buffer).getBigUint64(0, true) % 8n, 0n);
  const f = readSafetensors(bytes);
  assert.deepEqual(f.metadata, { format: "pt", note: "é" });
  for (const [name, t] of Object.entries(tensors)) {
    const r = f.tensors.get(name)!;
    assert.equal(r.dtype, t.dtype, name);
    assert.deepEqual(r.shape, t.shape, name);
    assert.deepEqual(r.toArray(), t.toArray(), name);
    // read tensors are views of the file bytes
    if (r.size > 0) assert.equal(r.storage.buffer, bytes.buffer, name);
  }
});

test("safetensors files on disk; unaligned data is copied, not misread", () => {
  const dir = mkdtempSync(join(tmpdir(), "tessera-st-"));
  try {
    const p = join(dir, "a.safetensors");
    saveSafetensors(p, new Map([["x", arange(6, undefined, { dtype: "float32" }).reshape([2, 3])]]));
    assert.deepEqual(loadSafetensors(p).tensors.get("x")!.toArray(), [
      [0, 1, 2],
      [3, 4, 5],
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // a header of odd length puts float32 data at an unaligned offset
  const data = new Uint8Array(new Float32Array([1.5, -2]).buffer);
  const bytes = rawSafetensors(
    {
      x: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
      y: { dtype: "U8", shape: [0], data_offsets: [8, 8] },
    },
    data,
  );
  const r = readSafetensors(bytes).tensors.get("x")!;
  assert.deepEqual(r.toArray(), [1.5, -2]);
});

test("lying safetensors files give clear errors", () => {
  const d = new Uint8Array(16);
  const ok = { dtype: "F32", shape: [2], data_offsets: [0, 8] };
  const cases: [string, Uint8Array, string, RegExp][] = [
    ["too short", new Uint8Array(4), "E_SAFETENSORS_HEADER", /too short/],
    [
      "header beyond file",
      rawSafetensors({ a: ok }, d, 10_000n),
      "E_SAFETENSORS_HEADER",
      /header length 10000 is beyond/,
    ],
    ["huge header length", rawSafetensors({ a: ok }, d, 2n ** 63n), "E_SAFETENSORS_HEADER", /beyond/],
    ["not json", rawSafetensors({}, d, 3n), "E_SAFETENSORS_HEADER", /JSON/],
    ["array header", rawSafetensors([1], d), "E_SAFETENSORS_HEADER", /object/],
    [
      "offsets out of range",
      rawSafetensors({ a: { dtype: "F32", shape: [8], data_offsets: [0, 32] } }, d),
      "E_SAFETENSORS_OFFSETS",
      /outside the 16-byte/,
    ],
    [
      "begin after end",
      rawSafetensors({ a: { dtype: "F32", shape: [0], data_offsets: [8, 4] } }, d),
      "E_SAFETENSORS_OFFSETS",
      /outside/,
    ],
    [
      "negative offsets",
      rawSafetensors({ a: { dtype: "F32", shape: [2], data_offsets: [-8, 0] } }, d),
      "E_SAFETENSORS_OFFSETS",
      /invalid data_offsets/,
    ],
    [
      "overlap",
      rawSafetensors({ a: ok, b: { dtype: "F32", shape: [2], data_offsets: [4, 12] } }, d),
      "E_SAFETENSORS_OVERLAP",
      /overlap/,
    ],
    [
      "unknown dtype",
      rawSafetensors({ a: { dtype: "C64", shape: [2], data_offsets: [0, 8] } }, d),
      "E_SAFETENSORS_DTYPE",
      /unsupported dtype "C64"/,
    ],
    [
      "size mismatch",
      rawSafetensors({ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, d),
      "E_SAFETENSORS_SIZE",
      /needs 12 bytes but data_offsets span 8/,
    ],
    [
      "bad shape",
      rawSafetensors({ a: { dtype: "F32", shape: [-2], data_offsets: [0, 8] } }, d),
      "E_SAFETENSORS_HEADER",
      /invalid shape/,
    ],
    [
      "bad metadata",
      rawSafetensors({ __metadata__: { a: 1 } }, d),
      "E_SAFETENSORS_HEADER",
      /must be a string/,
    ],
  ];
  for (const [label, bytes, code, msg] of cases) {
    assert.throws(
      () => readSafetensors(bytes),
      (e: unknown) => e instanceof TesseraError && e.code === code && msg.test(e.message),
      label,
    );
  }
});

test("npy goldens written by numpy (make_npy.py) read correctly", () => {
  const c = readNpy(fx("f4_c.npy"));
  assert.deepEqual(c.shape, [2, 3, 4]);
  assert.equal(c.get(1, 2, 3), 23 / 8);
  const f = readNpy(fx("f4_fortran.npy"));
  assert.deepEqual(f.shape, [2, 3, 4]);
  assert.deepEqual(f.strides, [1, 2, 6]);
  assert.deepEqual(f.toArray(), c.toArray());
  assert.deepEqual(readNpy(fx("f8_be.npy")).toArray(), [
    [-2.5, -1.5],
    [-0.5, 0.5],
    [1.5, 2.5],
  ]);
  assert.deepEqual(readNpy(fx("i8.npy")).toArray(), [-(2n ** 40n), 0n, 7n]);
  const b = readNpy(fx("b1.npy"));
  assert.equal(b.dtype, "bool");
  assert.deepEqual(b.toArray(), [
    [1, 0],
    [0, 1],
  ]);
  const h = readNpy(fx("f2.npy"));
  assert.deepEqual([...(h.data as Uint16Array)], [0x3e00, 0xae66, 0x7bff, 0x7c00]);
  assert.deepEqual(h.toArray(), [1.5, -0.0999755859375, 65504, Number.POSITIVE_INFINITY]);
  const s = readNpy(fx("scalar.npy"));
  assert.deepEqual(s.shape, []);
  assert.equal(s.item(), 3.25);
  assert.deepEqual(readNpy(fx("v2.npy")).toArray(), [0, 1, 2, 3, 4]);
  assert.deepEqual(readNpy(fx("v3.npy")).toArray(), [0, 1, 2, 3]);
});

test("npy write matches numpy byte for byte and round-trips", () => {
  const c = readNpy(fx("f4_c.npy"));
  assert.deepEqual(Buffer.from(writeNpy(c)), fx("f4_c.npy"));
  assert.deepEqual(Buffer.from(writeNpy(readNpy(fx("f4_fortran.npy")))), fx("f4_c.npy"));
  assert.deepEqual(Buffer.from(writeNpy(readNpy(fx("scalar.npy")))), fx("scalar.npy"));
  assert.deepEqual(Buffer.from(writeNpy(readNpy(fx("b1.npy")))), fx("b1.npy"));
  for (const t of [
    tensor([1n, 2n]),
    tensor([[1, 2]], "int16"),
    tensor([], "float64"),
    tensor([0.5], "float16"),
  ]) {
    const r = readNpy(writeNpy(t));
    assert.equal(r.dtype, t.dtype);
    assert.deepEqual(r.toArray(), t.toArray());
  }
});

test("bad npy input gives clear errors", () => {
  const good = new Uint8Array(fx("f4_c.npy"));
  const withHeader = (text: string, data = new Uint8Array(0)) => {
    const out = new Uint8Array(10 + text.length + data.length);
    out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    new DataView(out.buffer).setUint16(8, text.length, true);
    for (let i = 0; i < text.length; i++) out[10 + i] = text.charCodeAt(i);
    out.set(data, 10 + text.length);
    return out;
  };
  const lying = good.slice();
  new DataView(lying.buffer).setUint16(8, 60000, true);
  const v9 = good.slice();
  v9[6] = 9;
  const cases: [string, Uint8Array, string][] = [
    ["no magic", new Uint8Array(20), "E_NPY_HEADER"],
    ["header past end", lying, "E_NPY_HEADER"],
    ["version", v9, "E_NPY_VERSION"],
    ["truncated data", good.slice(0, good.length - 4), "E_NPY_SIZE"],
    ["object dtype", withHeader("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }\n"), "E_NPY_DTYPE"],
    [
      "complex dtype",
      withHeader("{'descr': '<c8', 'fortran_order': False, 'shape': (0,), }\n"),
      "E_NPY_DTYPE",
    ],
    [
      "structured dtype",
      withHeader("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }\n"),
      "E_NPY_HEADER",
    ],
    ["missing key", withHeader("{'descr': '<f4', 'shape': (1,), }\n"), "E_NPY_HEADER"],
    ["garbage", withHeader("print('hi')\n"), "E_NPY_HEADER"],
    [
      "negative dim",
      withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }\n"),
      "E_NPY_HEADER",
    ],
  ];
  for (const [label, bytes, code] of cases) {
    assert.throws(
      () => readNpy(bytes),
      (e: unknown) => e instanceof TesseraError && e.code === code,
      label,
    );
  }
});

test("BF16 safetensors: an error by default, decoded exactly to float32 on request", () => {
  const data = new Uint8Array(new Uint16Array([0x3f80, 0xc020, 0x7fc0, 0x0001]).buffer);
  const bytes = rawSafetensors(
    { w: { dtype: "BF16", shape: [2, 2], data_offsets: [0, 8] }, __metadata__: { a: "b" } },
    data,
  );
  assert.throws(() => readSafetensors(bytes), { code: "E_SAFETENSORS_DTYPE" });
  assert.throws(() => readSafetensors(bytes), /with the option \{ bf16: "float32" \}/);
  const f = readSafetensors(bytes, { bf16: "float32" });
  const w = f.tensors.get("w")!;
  assert.equal(w.dtype, "float32");
  assert.deepEqual(w.shape, [2, 2]);
  const v = Array.from(w.data as Float32Array);
  assert.deepEqual(v.slice(0, 2), [1, -2.5]);
  assert.ok(Number.isNaN(v[2]));
  assert.equal(v[3], 2 ** -133); // the smallest bf16 subnormal
  const lying = rawSafetensors({ w: { dtype: "BF16", shape: [3], data_offsets: [0, 8] } }, data);
  assert.throws(() => readSafetensors(lying, { bf16: "float32" }), { code: "E_SAFETENSORS_SIZE" });
});
