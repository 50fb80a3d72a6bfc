import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { type SliceSpec, Tensor } from "../../src/tensor/index.ts";

/** Copying reference: an n-d array as a shape plus a function from index to value. */
interface Ref {
  shape: number[];
  at: (idx: number[]) => number;
}

const materialize = (r: Ref): unknown => {
  const build = (prefix: number[]): unknown =>
    prefix.length === r.shape.length
      ? r.at(prefix)
      : Array.from({ length: r.shape[prefix.length]! }, (_, i) => build([...prefix, i]));
  return build([]);
};

/** Python's slice(start, stop, step).indices(n) then range(). */
function pyRange(n: number, start: number | null, stop: number | null, step: number): number[] {
  const norm = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + n : v, lo), hi);
  let s: number;
  let e: number;
  if (step > 0) {
    s = start === null ? 0 : norm(start, 0, n);
    e = stop === null ? n : norm(stop, 0, n);
  } else {
    s = start === null ? n - 1 : norm(start, -1, n - 1);
    e = stop === null ? -1 : norm(stop, -1, n - 1);
  }
  const out: number[] = [];
  for (let i = s; step > 0 ? i < e : i > e; i += step) out.push(i);
  return out;
}

type Op = [number, number[]];

/** Applies op `code` with parameters `p` to both the view and the reference; returns null when not applicable. */
function apply(t: Tensor, r: Ref, [code, p]: Op): [Tensor, Ref] | null {
  const nd = t.ndim;
  const pick = (v: number, n: number) => ((v % n) + n) % n;
  switch (code) {
    case 0: {
      // slice on every axis (tuple or null), maybe an integer index on axis 0
      if (nd === 0) return null;
      const specs: SliceSpec[] = [];
      const ranges: (number[] | number | null)[] = [];
      for (let k = 0; k < nd; k++) {
        const n = t.shape[k]!;
        const a = p[k % p.length]!;
        const b = p[(k + 1) % p.length]!;
        const step = a % 3 === 0 ? 1 : a % 3 === 1 ? 2 : -1 - (Math.abs(b) % 2);
        if (k === 0 && a === 5 && n > 0) {
          const i = pick(b, n) - (b < 0 ? n : 0);
          specs.push(i);
          ranges.push(i < 0 ? i + n : i);
        } else if (a === -6) {
          specs.push(null);
          ranges.push(null);
        } else {
          const start = b === 0 ? null : b;
          const stop = a === 0 ? null : a;
          specs.push([start, stop, step]);
          ranges.push(pyRange(n, start, stop, step));
        }
      }
      const shape: number[] = [];
      ranges.forEach((rg, k) => {
        if (rg === null) shape.push(t.shape[k]!);
        else if (Array.isArray(rg)) shape.push(rg.length);
      });
      return [
        t.slice(...specs),
        {
          shape,
          at: (idx) => {
            const full: number[] = [];
            let j = 0;
            ranges.forEach((rg) => {
              if (rg === null) full.push(idx[j++]!);
              else if (Array.isArray(rg)) full.push(rg[idx[j++]!]!);
              else full.push(rg);
            });
            return r.at(full);
          },
        },
      ];
    }
    case 1: {
      if (nd < 2) return null;
      const a = pick(p[0]!, nd);
      const b = pick(p[1]!, nd);
      const swap = (idx: number[]) => {
        const c = [...idx];
        c[a] = idx[b]!;
        c[b] = idx[a]!;
        return c;
      };
      return [t.transpose(a, b), { shape: swap(r.shape), at: (idx) => r.at(swap(idx)) }];
    }
    case 2: {
      const ax = pick(p[0]!, nd + 1);
      return [
        t.unsqueeze(ax),
        {
          shape: [...r.shape.slice(0, ax), 1, ...r.shape.slice(ax)],
          at: (idx) => r.at([...idx.slice(0, ax), ...idx.slice(ax + 1)]),
        },
      ];
    }
    case 3: {
      const ones = r.shape.map((d, k) => (d === 1 ? k : -1)).filter((k) => k >= 0);
      if (ones.length === 0) return null;
      const ax = ones[pick(p[0]!, ones.length)]!;
      return [
        t.squeeze(ax),
        {
          shape: r.shape.filter((_, k) => k !== ax),
          at: (idx) => r.at([...idx.slice(0, ax), 0, ...idx.slice(ax)]),
        },
      ];
    }
    case 4: {
      // expand size-1 axes and add a leading axis
      const lead = pick(p[0]!, 3);
      const shape = [lead, ...r.shape.map((d, k) => (d === 1 ? pick(p[(k + 1) % p.length]!, 4) : d))];
      return [
        t.expand(shape),
        { shape, at: (idx) => r.at(idx.slice(1).map((v, k) => (r.shape[k] === 1 ? 0 : v))) },
      ];
    }
    case 5: {
      if (nd === 0) return null;
      const ax = pick(p[0]!, nd);
      const n = t.shape[ax]!;
      const start = pick(p[1]!, n + 1);
      const len = pick(p[2]!, n - start + 1);
      const shape = [...r.shape];
      shape[ax] = len;
      return [
        t.narrow(ax, start, len),
        {
          shape,
          at: (idx) => {
            const c = [...idx];
            c[ax] = idx[ax]! + start;
            return r.at(c);
          },
        },
      ];
    }
    case 6: {
      // reshape: on a contiguous view it is a view; otherwise go through contiguous() (a copy)
      const flatRef = (i: number) => {
        const idx: number[] = [];
        for (let k = r.shape.length - 1; k >= 0; k--) {
          idx.unshift(i % r.shape[k]!);
          i = Math.floor(i / r.shape[k]!);
        }
        return r.at(idx);
      };
      const size = r.shape.reduce((a, b) => a * b, 1);
      if (size === 0) return null;
      const src = t.isContiguous() ? t : t.contiguous();
      if (t.isContiguous()) assert.equal(src.storage, t.storage);
      return [src.reshape([size]), { shape: [size], at: (idx) => flatRef(idx[0]!) }];
    }
    default: {
      // permute by a rotation
      if (nd < 2) return null;
      const rot = pick(p[0]!, nd);
      const axes = [...Array(nd).keys()].map((k) => (k + rot) % nd);
      return [
        t.permute(axes),
        {
          shape: axes.map((a) => r.shape[a]!),
          at: (idx) => {
            const c = new Array<number>(nd);
            axes.forEach((a, k) => {
              c[a] = idx[k]!;
            });
            return r.at(c);
          },
        },
      ];
    }
  }
}

test("view ops agree with a copying reference implementation (fast-check)", () => {
  const shapeArb = fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 4 });
  const opArb = fc.tuple(
    fc.nat(7),
    fc.array(fc.integer({ min: -6, max: 6 }), { minLength: 4, maxLength: 4 }),
  );
  fc.assert(
    fc.property(shapeArb, fc.array(opArb, { maxLength: 6 }), (shape, ops) => {
      const size = shape.reduce((a, b) => a * b, 1);
      const data = Float64Array.from({ length: size }, (_, i) => i);
      const strides = shape.map((_, k) => shape.slice(k + 1).reduce((a, b) => a * b, 1));
      let t = Tensor.wrap(data, shape);
      let r: Ref = { shape: [...shape], at: (idx) => idx.reduce((a, v, k) => a + v * strides[k]!, 0) };
      for (const op of ops) {
        const next = apply(t, r, op);
        if (next === null) continue;
        const copies = op[0] === 6 && !t.isContiguous();
        const before = t.storage;
        [t, r] = next;
        // every view op keeps the storage; only reshape of a non-contiguous view goes through a copy
        if (!copies) assert.equal(t.storage, before, `op ${op[0]} copied`);
        assert.deepEqual([...t.shape], r.shape, `shape after op ${op[0]}`);
        assert.deepEqual(t.toArray(), materialize(r), `values after op ${op[0]}`);
      }
      assert.deepEqual(t.clone().toArray(), materialize(r));
      assert.deepEqual(t.contiguous().toArray(), materialize(r));
    }),
    { numRuns: 300, seed: 42, endOnFailure: true },
  );
});

test("out-of-range slices and bad shapes are clear errors, never out-of-buffer views", () => {
  const t = Tensor.wrap(new Float32Array(6), [2, 3]);
  assert.throws(() => t.slice(2), { code: "E_INDEX_OUT_OF_RANGE" });
  assert.throws(() => t.slice(-3), { code: "E_INDEX_OUT_OF_RANGE" });
  assert.throws(() => t.slice(null, [0, 3, 0]), { code: "E_SLICE_STEP" });
  assert.throws(() => t.slice(null, [0.5, 3]), { code: "E_INDEX_OUT_OF_RANGE" });
  assert.throws(() => t.slice(null, null, null), { code: "E_INDEX_RANK" });
  assert.throws(() => t.narrow(1, 2, 2), { code: "E_INDEX_OUT_OF_RANGE" });
  assert.throws(() => t.get(0, 3), { code: "E_INDEX_OUT_OF_RANGE" });
  assert.throws(() => t.reshape([4, 2]), { code: "E_SHAPE_SIZE" });
  assert.throws(() => t.reshape([-2, 3]), { code: "E_SHAPE_INVALID" });
  assert.throws(() => Tensor.empty("float32", [2, -1]), { code: "E_SHAPE_INVALID" });
  assert.throws(() => Tensor.empty("float32", [2.5]), { code: "E_SHAPE_INVALID" });
  assert.throws(() => Tensor.empty("float32", [Number.NaN]), { code: "E_SHAPE_INVALID" });
  assert.throws(() => t.transpose().reshape([6]), { code: "E_NOT_CONTIGUOUS" });
  assert.throws(
    () => new Tensor("float32", new Float32Array(4), { shape: [2, 3], strides: [3, 1], offset: 0 }),
    {
      code: "E_VIEW_OUT_OF_BOUNDS",
    },
  );
  // clamped slices stay inside the buffer
  assert.deepEqual(t.slice([5, 10]).shape, [0, 3]);
  assert.deepEqual(t.slice(null, [-10, 10, -1]).shape, [2, 0]);
});
