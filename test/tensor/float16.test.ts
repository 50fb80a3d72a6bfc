import assert from "node:assert/strict";
import { test } from "node:test";
import {
  cast,
  f16ArrayToF32,
  f16ToF32,
  f32ArrayToF16,
  f32ToF16,
  rng,
  tensor,
} from "../../src/tensor/index.ts";

test("every half bit pattern round-trips through float32 exactly", () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const f = f16ArrayToF32(all);
  const back = f32ArrayToF16(f);
  for (let h = 0; h < 65536; h++) {
    const isNaN16 = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    if (isNaN16) {
      assert.ok(Number.isNaN(f[h]!));
      assert.equal(back[h], h, "NaN payload kept");
    } else {
      assert.equal(back[h], h, `bits ${h.toString(16)}`);
      assert.equal(f16ToF32(h), f[h]);
    }
  }
});

test("special values", () => {
  assert.equal(f32ToF16(0), 0);
  assert.equal(f32ToF16(-0), 0x8000);
  assert.equal(f32ToF16(Infinity), 0x7c00);
  assert.equal(f32ToF16(-Infinity), 0xfc00);
  assert.equal(f32ToF16(Number.NaN) & 0x7c00, 0x7c00);
  assert.notEqual(f32ToF16(Number.NaN) & 0x3ff, 0);
  assert.equal(f32ToF16(65504), 0x7bff);
  assert.equal(f32ToF16(65519), 0x7bff); // below the midpoint to 65536
  assert.equal(f32ToF16(65520), 0x7c00); // the midpoint ties to even: inf
  assert.equal(f32ToF16(2 ** -24), 1); // smallest subnormal
  assert.equal(f32ToF16(2 ** -25), 0); // tie between 0 and 2^-24 → even (0)
  assert.equal(f32ToF16(2 ** -25 * 1.5), 1);
  assert.equal(f32ToF16(3 * 2 ** -25), 2); // tie between 1 and 2 → even (2)
  assert.equal(f32ToF16(1 + 2 ** -11), 0x3c00); // tie → even mantissa
  assert.equal(f32ToF16(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(f16ToF32(0x3555), 0.333251953125);
});

test("f32 → f16 picks the nearest half, ties to even (random float32 values)", () => {
  const g = rng(5);
  const bits = new Uint32Array(20000).map(() => g.nextUint32());
  const xs = new Float32Array(bits.buffer);
  for (const x of xs) {
    if (!Number.isFinite(x) || Math.abs(x) >= 65520) continue;
    const h = f32ToF16(x);
    const v = f16ToF32(h);
    const err = Math.abs(x - v);
    for (const nb of [h - 1, h + 1]) {
      if ((nb & 0x7fff) > 0x7bff || nb < 0 || (nb & 0x8000) !== (h & 0x8000)) continue;
      const e2 = Math.abs(x - f16ToF32(nb));
      assert.ok(err < e2 || (err === e2 && (h & 1) === 0), `x=${x} h=${h}`);
    }
  }
});

test("cast to and from float16, ints and bool", () => {
  const t = tensor([0.1, -2.5, 70000, 1.7]);
  const h = cast(t, "float16");
  assert.equal(h.dtype, "float16");
  assert.deepEqual(Array.from(cast(h, "float32").data), [0.0999755859375, -2.5, Infinity, 1.7001953125]);
  assert.deepEqual(cast(tensor([1.7, -1.7, Number.NaN]), "int32").toArray(), [1, -1, 0]);
  assert.deepEqual(cast(tensor([0, 2, -0.5]), "bool").toArray(), [0, 1, 1]);
  assert.deepEqual(cast(tensor([3, -4]), "int64").toArray(), [3n, -4n]);
  assert.deepEqual(cast(tensor([3n, -4n]), "float64").toArray(), [3, -4]);
  assert.deepEqual([...(cast(tensor([3n, -4n]), "float16").data as Uint16Array)], [0x4200, 0xc400]);
  assert.deepEqual(cast(tensor([3n, -4n]), "float16").toArray(), [3, -4]);
  const nc = tensor([
    [1, 2],
    [3, 4],
  ]).transpose();
  assert.deepEqual(cast(nc, "int8").toArray(), [
    [1, 3],
    [2, 4],
  ]);
  const same = cast(t, "float32");
  assert.notEqual(same.storage, t.storage, "cast always copies");
});

test("float16 elements read and write as numbers (get, set, item, toArray); storage keeps the bits", () => {
  const t = tensor(
    [
      [1.5, -2],
      [65504, 0.1],
    ],
    "float16",
  );
  assert.equal(t.get(0, 0), 1.5);
  assert.equal(t.get(1, 1), 0.0999755859375); // 0.1 rounded to half
  // biome-ignore lint/suspicious/noApproximativeNumericConstant: a number to round to half, not π
  t.set(3.14159, 0, 1);
  assert.equal(t.get(0, 1), 3.140625);
  assert.equal((t.data as Uint16Array)[1], 0x4248);
  assert.equal(t.select(0, 1).select(0, 0).item(), 65504);
  assert.deepEqual(t.transpose().toArray(), [
    [1.5, 65504],
    [3.140625, 0.0999755859375],
  ]);
});
