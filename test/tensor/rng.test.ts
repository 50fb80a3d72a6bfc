import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { Generator, philox4x32, rng, tensor } from "../../src/tensor/index.ts";

test("philox4x32-10 matches the Random123 known-answer vectors", () => {
  const o = new Uint32Array(4);
  philox4x32(0, 0, 0, 0, 0, 0, o);
  assert.deepEqual([...o], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
  const f = 0xffffffff;
  philox4x32(f, f, f, f, f, f, o);
  assert.deepEqual([...o], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]);
  philox4x32(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, o);
  assert.deepEqual([...o], [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]);
});

test("golden values for fixed seeds", () => {
  const g = rng(20240601);
  const words = Array.from({ length: 8 }, () => g.nextUint32());
  assert.deepEqual(
    words,
    [390892537, 149815703, 3027486132, 1873969473, 2059167207, 1053699014, 3234638142, 3832429796],
  );
  assert.deepEqual(
    Array.from(rng(7).uniform([4]).data),
    [0.9545971155166626, 0.7501521706581116, 0.11417734622955322, 0.08565783500671387],
  );
  assert.deepEqual(
    Array.from(rng(7).normal([4], { dtype: "float64" }).data),
    [1.8738797063495782, 1.6349112216522232, 0.48231602240571664, 0.9013098656283244],
  );
  assert.deepEqual(rng(7).child(3).key, [2360441434, 3979439079]);
  assert.deepEqual(rng(2n ** 64n - 1n).key, [4294967295, 4294967295]);
  assert.deepEqual(new Generator(5).key, rng(5n).key);
});

test("seeds are validated", () => {
  assert.throws(() => rng(-1), { code: "E_RNG_SEED" });
  assert.throws(() => rng(1.5), { code: "E_RNG_SEED" });
  assert.throws(() => rng(2n ** 64n), { code: "E_RNG_SEED" });
  assert.throws(() => rng(1).integers([2], 5, 5), { code: "E_RNG_RANGE" });
});

test("child streams are reproducible, independent of parent draws, and distinct", () => {
  const a = rng(1);
  const c1 = a.child(0).uniform([16]);
  a.uniform([100]);
  assert.deepEqual(a.child(0).uniform([16]).data, c1.data);
  const [s0, s1] = rng(1).split(2);
  assert.deepEqual(s0!.uniform([16]).data, c1.data);
  assert.notDeepEqual(s1!.uniform([16]).data, c1.data);
  const p = rng(1);
  const first = p.split(2);
  const second = p.split(2);
  assert.notDeepEqual(first[0]!.key, second[0]!.key);
  assert.notDeepEqual(rng(1).child(0).child(0).key, rng(1).child(0).key);
});

test("distributions: ranges and moments", () => {
  const g = rng(123);
  const u = g.uniform([100000], { low: -2, high: 3 }).data;
  let mn = Infinity;
  let mx = -Infinity;
  let s = 0;
  for (const v of u) {
    mn = Math.min(mn, v);
    mx = Math.max(mx, v);
    s += v;
  }
  assert.ok(mn >= -2 && mx < 3);
  // a range narrower than float32 spacing still never returns `high`
  const narrow = g.uniform([10000], { low: 0.9999999, high: 1 }).data;
  assert.ok(narrow.every((v) => v < 1 && v >= Math.fround(0.9999999)));
  assert.ok(Math.abs(s / u.length - 0.5) < 0.03);
  const n = g.normal([100000], { mean: 1, std: 2, dtype: "float64" }).data;
  let m = 0;
  for (const v of n) m += v;
  m /= n.length;
  let v2 = 0;
  for (const v of n) v2 += (v - m) ** 2;
  v2 /= n.length;
  assert.ok(Math.abs(m - 1) < 0.03, `mean ${m}`);
  assert.ok(Math.abs(Math.sqrt(v2) - 2) < 0.03, `std ${Math.sqrt(v2)}`);
  const ints = g.integers([60000], -3, 3).data;
  const counts = new Map<number, number>();
  for (const x of ints) counts.set(x, (counts.get(x) ?? 0) + 1);
  assert.deepEqual([...counts.keys()].sort(), [-1, -2, -3, 0, 1, 2]);
  for (const c of counts.values()) assert.ok(Math.abs(c - 10000) < 500);
  const big = g.integers([1000], 0, 2 ** 40, "int64").data;
  assert.ok(big.every((x) => x >= 0n && x < 2n ** 40n));
  assert.ok(big.some((x) => x > 2n ** 33n));
});

test("permutation and shuffle", () => {
  const p = rng(9).permutation(100).data;
  assert.deepEqual(
    [...p].sort((a, b) => a - b),
    [...Array(100).keys()],
  );
  const t = tensor([
    [0, 0],
    [1, 1],
    [2, 2],
    [3, 3],
  ]);
  const s = rng(9).shuffle(t);
  assert.deepEqual(s.shape, [4, 2]);
  const rows = (s.toArray() as number[][]).map((r) => r[0]!);
  assert.deepEqual([...rows].sort(), [0, 1, 2, 3]);
  for (const r of s.toArray() as number[][]) assert.equal(r[0], r[1]);
  assert.deepEqual(rng(9).shuffle(t).data, s.data);
});

test("two separate processes produce byte-identical tensors", () => {
  const script = `
    import { rng } from "./src/tensor/index.ts";
    import { createHash } from "node:crypto";
    const g = rng(2024);
    const parts = [g.uniform([1000]), g.normal([1001]), g.integers([500], -7, 1000), g.permutation(300), g.split(2)[1].normal([64], { dtype: "float64" })];
    const h = createHash("sha256");
    for (const p of parts) h.update(new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength));
    console.log(h.digest("hex"));`;
  const run = () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  };
  const a = run();
  const b = run();
  assert.match(a, /^[0-9a-f]{64}$/);
  assert.equal(a, b);
  // and the same bytes in this process
  const g = rng(2024);
  const parts = [
    g.uniform([1000]),
    g.normal([1001]),
    g.integers([500], -7, 1000),
    g.permutation(300),
    g.split(2)[1]!.normal([64], { dtype: "float64" }),
  ];
  const h = createHash("sha256");
  for (const p of parts) h.update(new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength));
  assert.equal(h.digest("hex"), a);
});
