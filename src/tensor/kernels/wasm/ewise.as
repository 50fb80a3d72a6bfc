// WASM SIMD elementwise float32 kernels, AssemblyScript source (built by build.mjs; .as so tsc skips it).
// Pointers are byte offsets into the imported linear memory; n is the element count.
//   <op>VV(a, b, o, n): o[i] = a[i] <op> b[i]
//   <op>VS(a, s, o, n): o[i] = a[i] <op> s
//   <op>SV(s, a, o, n): o[i] = s <op> a[i]
// Generated from one template (see the loops below); keep the four ops in sync.

export function addVV(a: usize, b: usize, o: usize, n: i32): void {
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = <usize>i << 2;
    v128.store(o + p, f32x4.add(v128.load(a + p, 0), v128.load(b + p, 0)), 0);
    v128.store(o + p, f32x4.add(v128.load(a + p, 16), v128.load(b + p, 16)), 16);
    v128.store(o + p, f32x4.add(v128.load(a + p, 32), v128.load(b + p, 32)), 32);
    v128.store(o + p, f32x4.add(v128.load(a + p, 48), v128.load(b + p, 48)), 48);
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    store<f32>(o + p, load<f32>(a + p) + load<f32>(b + p));
  }
}

export function addVS(a: usize, s: f32, o: usize, n: i32): void {
  const vs = f32x4.splat(s);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = <usize>i << 2;
    v128.store(o + p, f32x4.add(v128.load(a + p, 0), vs), 0);
    v128.store(o + p, f32x4.add(v128.load(a + p, 16), vs), 16);
    v128.store(o + p, f32x4.add(v128.load(a + p, 32), vs), 32);
    v128.store(o + p, f32x4.add(v128.load(a + p, 48), vs), 48);
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    store<f32>(o + p, load<f32>(a + p) + s);
  }
}

export function addSV(s: f32, a: usize, o: usize, n: i32): void {
  const vs = f32x4.splat(s);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = <usize>i << 2;
    v128.store(o + p, f32x4.add(vs, v128.load(a + p, 0)), 0);
    v128.store(o + p, f32x4.add(vs, v128.load(a + p, 16)), 16);
    v128.store(o + p, f32x4.add(vs, v128.load(a + p, 32)), 32);
    v128.store(o + p, f32x4.add(vs, v128.load(a + p, 48)), 48);
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    store<f32>(o + p, s + load<f32>(a + p));
  }
}

export function subVV(a: usize, b: usize, o: usize, n: i32): void {
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = <usize>i << 2;
    v128.store(o + p, f32x4.sub(v128.load(a + p, 0), v128.load(b + p, 0)), 0);
    v128.store(o + p, f32x4.sub(v128.load(a + p, 16), v128.load(b + p, 16)), 16);
    v128.store(o + p, f32x4.sub(v128.load(a + p, 32), v128.load(b + p, 32)), 32);
    v128.store(o + p, f32x4.sub(v128.load(a + p, 48), v128.load(b + p, 48)), 48);
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    store<f32>(o + p, load<f32>(a + p) - load<f32>(b + p));
  }
}

export function subVS(a: usize, s: f32, o: usize, n: i32): void {
  const vs = f32x4.splat(s);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = <usize>i << 2;
    v128.store(o + p, f32x4.sub(v128.load(a + p, 0), vs), 0);
    v128.store(o + p, f32x4.sub(v128.load(a + p, 16), vs), 16);
    v128.store(o + p, f32x4.sub(v128.load(a + p, 32), vs), 32);
    v128.store(o + p, f32x4.sub(v128.load(a + p, 48), vs), 48);
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    store<f32>(o + p, load<f32>(a + p) - s);
  }
}

export function subSV(s: f32, a: usize, o: usize, n: i32): void {
  const vs = f32x4.splat(s);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = <usize>i << 2;
    v128.store(o + p, f32x4.sub(vs, v128.load(a + p, 0)), 0);
    v128.store(o + p, f32x4.sub(vs, v128.load(a + p, 16)), 16);
    v128.store(o + p, f32x4.sub(vs, v128.load(a + p, 32)), 32);
    v128.store(o + p, f32x4.sub(vs, v128.load(a + p, 48)), 48);
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    store<f32>(o + p, s - load<f32>(a + p));
  }
}

export function mulVV(a: usize, b: usize, o: usize, n: i32): void {
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = <usize>i << 2;
    v128.store(o + p, f32x4.mul(v128.load(a + p, 0), v128.load(b + p, 0)), 0);
    v128.store(o + p, f32x4.mul(v128.load(a + p, 16), v128.load(b + p, 16)), 16);
    v128.store(o + p, f32x4.mul(v128.load(a + p, 32), v128.load(b + p, 32)), 32);
    v128.store(o + p, f32x4.mul(v128.load(a + p, 48), v128.load(b + p, 48)), 48);
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    store<f32>(o + p, load<f32>(a + p) * load<f32>(b + p));
  }
}

export function mulVS(a: usize, s: f32, o: usize, n: i32): void {
  const vs = f32x4.splat(s);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = <usize>i << 2;
    v128.store(o + p, f32x4.mul(v128.load(a + p, 0), vs), 0);
    v128.store(o + p, f32x4.mul(v128.load(a + p, 16), vs), 16);
    v128.store(o + p, f32x4.mul(v128.load(a + p, 32), vs), 32);
    v128.store(o + p, f32x4.mul(v128.load(a + p, 48), vs), 48);
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    store<f32>(o + p, load<f32>(a + p) * s);
  }
}

export function mulSV(s: f32, a: usize, o: usize, n: i32): void {
  const vs = f32x4.splat(s);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = <usize>i << 2;
    v128.store(o + p, f32x4.mul(vs, v128.load(a + p, 0)), 0);
    v128.store(o + p, f32x4.mul(vs, v128.load(a + p, 16)), 16);
    v128.store(o + p, f32x4.mul(vs, v128.load(a + p, 32)), 32);
    v128.store(o + p, f32x4.mul(vs, v128.load(a + p, 48)), 48);
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    store<f32>(o + p, s * load<f32>(a + p));
  }
}

export function divVV(a: usize, b: usize, o: usize, n: i32): void {
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = <usize>i << 2;
    v128.store(o + p, f32x4.div(v128.load(a + p, 0), v128.load(b + p, 0)), 0);
    v128.store(o + p, f32x4.div(v128.load(a + p, 16), v128.load(b + p, 16)), 16);
    v128.store(o + p, f32x4.div(v128.load(a + p, 32), v128.load(b + p, 32)), 32);
    v128.store(o + p, f32x4.div(v128.load(a + p, 48), v128.load(b + p, 48)), 48);
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    store<f32>(o + p, load<f32>(a + p) / load<f32>(b + p));
  }
}

export function divVS(a: usize, s: f32, o: usize, n: i32): void {
  const vs = f32x4.splat(s);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = <usize>i << 2;
    v128.store(o + p, f32x4.div(v128.load(a + p, 0), vs), 0);
    v128.store(o + p, f32x4.div(v128.load(a + p, 16), vs), 16);
    v128.store(o + p, f32x4.div(v128.load(a + p, 32), vs), 32);
    v128.store(o + p, f32x4.div(v128.load(a + p, 48), vs), 48);
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    store<f32>(o + p, load<f32>(a + p) / s);
  }
}

export function divSV(s: f32, a: usize, o: usize, n: i32): void {
  const vs = f32x4.splat(s);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = <usize>i << 2;
    v128.store(o + p, f32x4.div(vs, v128.load(a + p, 0)), 0);
    v128.store(o + p, f32x4.div(vs, v128.load(a + p, 16)), 16);
    v128.store(o + p, f32x4.div(vs, v128.load(a + p, 32)), 32);
    v128.store(o + p, f32x4.div(vs, v128.load(a + p, 48)), 48);
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    store<f32>(o + p, s / load<f32>(a + p));
  }
}
