import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { describe, test } from "node:test";
import { alignmentPad, BodyPool, readBody } from "../../src/server/body.ts";
import {
  decodeBinaryChunk,
  decodeInferResponse,
  encodeInferRequest,
  parseInferRequest,
} from "../../src/server/index.ts";
import { TesseraError } from "../../src/tensor/index.ts";
import { standardRepo, startApp } from "./helpers.ts";

/** Feeds `chunks` through a stream into readBody; resolves with the body or the error. */
function read(
  chunks: Buffer[],
  headers: Record<string, string>,
  limit = 1 << 20,
  fail?: Error,
  pool?: BodyPool,
): Promise<{ err: (Error & { statusCode?: number }) | null; body?: Buffer }> {
  const s = new PassThrough();
  const p = new Promise<{ err: Error | null; body?: Buffer }>((resolve) => {
    let calls = 0;
    readBody(
      s,
      headers,
      limit,
      (err, body) => {
        calls++;
        assert.equal(calls, 1, "done is called once");
        resolve({ err, ...(body ? { body } : {}) });
      },
      pool,
    );
  });
  for (const c of chunks) s.write(c);
  if (fail) s.destroy(fail);
  else s.end();
  return p;
}

describe("readBody", () => {
  test("places the binary part of a Triton binary body 8-byte aligned, for every header length", async () => {
    for (let h = 1; h <= 17; h++) {
      const body = Buffer.alloc(h + 64, 7);
      for (const size of [body.length, 4096 + h]) {
        const b = size === body.length ? body : Buffer.alloc(size, 3);
        const r = await read([b.subarray(0, 5), b.subarray(5)], {
          "content-length": String(b.length),
          "inference-header-content-length": String(h),
        });
        assert.equal(r.err, null);
        assert.deepEqual(r.body, b);
        assert.equal((r.body!.byteOffset + h) % 8, 0, `header ${h}, body ${size}`);
      }
    }
  });

  test("without Content-Length (chunked) the chunks are joined", async () => {
    const r = await read([Buffer.from("ab"), Buffer.from("cd")], {});
    assert.equal(r.body?.toString(), "abcd");
  });

  test("a declared length over the limit is refused before reading (413 code)", async () => {
    const r = await read([Buffer.alloc(10)], { "content-length": "100" }, 50);
    assert.ok(r.err instanceof TesseraError);
    assert.equal((r.err as TesseraError).code, "E_BODY_TOO_LARGE");
    assert.match(r.err.message, /larger than the limit: 100 bytes, limit 50/);
  });

  test("received bytes over the limit (no Content-Length) are refused", async () => {
    const r = await read([Buffer.alloc(30), Buffer.alloc(30)], {}, 50);
    assert.equal((r.err as TesseraError).code, "E_BODY_TOO_LARGE");
  });

  test("fewer or more bytes than Content-Length answer E_REQUEST_INVALID", async () => {
    const short = await read([Buffer.alloc(5)], { "content-length": "8" });
    assert.equal((short.err as TesseraError).code, "E_REQUEST_INVALID");
    assert.match(short.err!.message, /header says 8, received 5/);
    const long = await read([Buffer.alloc(9)], { "content-length": "8" });
    assert.equal((long.err as TesseraError).code, "E_REQUEST_INVALID");
  });

  test("a stream error is a 400", async () => {
    const r = await read([Buffer.alloc(3)], { "content-length": "8" }, 100, new Error("boom"));
    assert.equal(r.err?.message, "boom");
    assert.equal(r.err?.statusCode, 400);
  });

  test("alignmentPad ignores absent, bad and out-of-range header lengths", () => {
    assert.equal(alignmentPad(undefined, 10), 0);
    assert.equal(alignmentPad("x", 10), 0);
    assert.equal(alignmentPad("11", 10), 0);
    assert.equal(alignmentPad("0", 10), 0);
    assert.equal(alignmentPad("3", 10), 5);
    assert.equal(alignmentPad(["8"], 10), 0);
  });
});

describe("binary chunks as views", () => {
  test("an aligned chunk decodes to a view of the body; an unaligned one to an equal copy", () => {
    const data = Float32Array.from({ length: 12 }, (_, i) => i * 0.5);
    const bytes = new Uint8Array(data.buffer);
    const aligned = new Uint8Array(64);
    aligned.set(bytes, 8);
    const a = decodeBinaryChunk(aligned.subarray(8, 8 + 48), "FP32", 12, [3, 4]);
    assert.ok(a.ok);
    assert.equal((a.data as Float32Array).buffer, aligned.buffer, "view, no copy");
    assert.deepEqual(a.data, data);
    const odd = new Uint8Array(64);
    odd.set(bytes, 3);
    const b = decodeBinaryChunk(odd.subarray(3, 3 + 48), "FP32", 12, [3, 4]);
    assert.ok(b.ok);
    assert.notEqual((b.data as Float32Array).buffer, odd.buffer, "copied");
    assert.deepEqual(b.data, data);
  });

  test("a request read by readBody parses to tensors that view its body", async () => {
    const data = Float32Array.from({ length: 2 * 256 }, (_, i) => Math.sin(i));
    const ids = BigInt64Array.from([1n, -2n, 3n]);
    const enc = encodeInferRequest({
      inputs: [
        { name: "input", datatype: "FP32", shape: [2, 256], data, binary: true },
        { name: "ids", datatype: "INT64", shape: [3], data: ids, binary: true },
      ],
    });
    const h = enc.headers["inference-header-content-length"]!;
    const r = await read([enc.body], {
      "content-length": String(enc.body.length),
      "inference-header-content-length": h,
    });
    const parsed = parseInferRequest(r.body!, h);
    assert.ok(parsed.ok);
    const [x, y] = parsed.value.inputs;
    assert.deepEqual(x!.data, data);
    assert.deepEqual(y!.data, ids);
    assert.equal((x!.data as Float32Array).buffer, r.body!.buffer);
    assert.equal((y!.data as BigInt64Array).buffer, r.body!.buffer);
  });
});

describe("BodyPool", () => {
  test("power-of-two classes; a given-back buffer is taken again; foreign, repeated and detached ones are ignored", () => {
    const pool = new BodyPool({ minBytes: 16, maxBytes: 1024, maxPooledBytes: 2048, maxPerClass: 2 });
    const a = pool.take(100);
    assert.equal(a.byteLength, 128);
    pool.give(new Uint8Array(a, 3, 50));
    pool.give(new Uint8Array(a)); // twice: ignored
    assert.equal(pool.idleBytes, 128);
    assert.equal(pool.take(65), a, "reused");
    assert.notEqual(pool.take(65), a, "not handed out twice");
    assert.equal(pool.idleBytes, 0);
    pool.give(new Uint8Array(new ArrayBuffer(128))); // not from this pool
    assert.equal(pool.idleBytes, 0);
    const b = pool.take(200);
    const view = new Uint8Array(b);
    structuredClone(b, { transfer: [b] }); // detaches b
    pool.give(view);
    assert.equal(pool.idleBytes, 0);
    assert.equal(pool.take(5000).byteLength, 5000, "over maxBytes: exact size, not pooled");
    const [x, y, z] = [pool.take(512), pool.take(512), pool.take(512)];
    for (const v of [x, y, z]) pool.give(new Uint8Array(v));
    assert.equal(pool.idleBytes, 1024, "at most maxPerClass per class");
    const big = [pool.take(1024), pool.take(1024)];
    for (const v of big) pool.give(new Uint8Array(v));
    assert.equal(pool.idleBytes, 2048, "at most maxPooledBytes");
  });

  test("JSON FP32/FP64 arrays parsed into stale pool memory equal freshly allocated ones", () => {
    const pool = new BodyPool();
    const dirty = { FP32: pool.take(300 * 4), FP64: pool.take(300 * 8) };
    for (const d of Object.values(dirty)) {
      new Float64Array(d).fill(Number.NaN);
      pool.give(new Uint8Array(d));
    }
    const data = Float32Array.from({ length: 300 }, (_, i) => Math.fround(Math.cos(i) * 3.3));
    for (const datatype of ["FP32", "FP64"] as const) {
      const { body } = encodeInferRequest({
        inputs: [
          {
            name: "x",
            datatype,
            shape: [3, 100],
            data: datatype === "FP32" ? data : Float64Array.from(data),
          },
        ],
      });
      const fresh = parseInferRequest(body);
      const pooled = parseInferRequest(body, undefined, pool.alloc);
      assert.ok(fresh.ok && pooled.ok);
      assert.deepEqual(pooled.value.inputs[0]!.data, fresh.value.inputs[0]!.data);
      assert.equal((pooled.value.inputs[0]!.data as Float32Array).length, 300);
      assert.ok(
        (pooled.value.inputs[0]!.data as Float32Array).buffer === dirty[datatype],
        "parsed into pool memory",
      );
    }
  });

  test("readBody takes large bodies from the pool, aligned, and small ones from Node's Buffer pool", async () => {
    const pool = new BodyPool();
    const big = Buffer.alloc(10_000, 9);
    const r = await read(
      [big],
      { "content-length": "10000", "inference-header-content-length": "13" },
      1 << 20,
      undefined,
      pool,
    );
    assert.deepEqual(r.body, big);
    assert.equal(r.body!.buffer.byteLength, 16384);
    assert.equal((r.body!.byteOffset + 13) % 8, 0);
    pool.give(r.body!);
    const again = await read([big], { "content-length": "10000" }, 1 << 20, undefined, pool);
    assert.equal(again.body!.buffer, r.body!.buffer, "the same memory serves the next body");
    const small = await read([Buffer.alloc(100)], { "content-length": "100" }, 1 << 20, undefined, pool);
    assert.notEqual(small.body!.buffer.byteLength, 16384);
  });

  test("over a socket: concurrent large requests reuse pool memory and every answer is its own", async () => {
    const srv = await startApp(
      standardRepo({ batching: { maxBatchSize: 1024, maxQueueDelayMs: 2, maxQueueSize: 256 } }),
      { maxItemsPerRequest: 512 },
    );
    try {
      const rows = 300; // 300 × 8 float32 = 9.6 KB: a pooled body
      const vec = (k: number) => Float32Array.from({ length: 8 }, (_, i) => Math.sin(k * 8 + i));
      const post = async (data: Float32Array, n: number, binary = true) => {
        const { body, headers } = encodeInferRequest({
          parameters: { binary_data_output: true },
          inputs: [{ name: "input", datatype: "FP32", shape: [n, 8], data, binary }],
          outputs: [{ name: "probabilities" }],
        });
        const res = await fetch(`${srv.url}/v2/models/mlp/infer`, { method: "POST", body, headers });
        assert.equal(res.status, 200, await res.clone().text());
        const buf = Buffer.from(await res.arrayBuffer());
        const d = decodeInferResponse(buf, res.headers.get("inference-header-content-length") ?? undefined);
        assert.ok(d.ok);
        return d.value.outputs[0]!.data as Float32Array;
      };
      // Binary bodies and JSON bodies (whose FP32 arrays are parsed into pool memory), interleaved.
      const many = (k: number) => {
        const data = new Float32Array(rows * 8);
        for (let r = 0; r < rows; r++) data.set(vec(k), r * 8);
        return post(data, rows, k % 2 === 0);
      };
      for (let round = 0; round < 3; round++) {
        const ks = Array.from({ length: 16 }, (_, i) => round * 16 + i);
        const got = await Promise.all(ks.map(many));
        // the answer of request k, from a one-row request (small body: Node's Buffer pool, not BodyPool)
        for (const [i, k] of ks.entries()) {
          const want = await post(vec(k), 1);
          const p = got[i]!;
          // (a tolerance, not bit equality: ORT may pick another GEMM kernel for 1 row than for 300)
          for (let r = 0; r < rows; r++)
            for (let c = 0; c < 4; c++)
              assert.ok(
                Math.abs(p[r * 4 + c]! - want[c]!) < 1e-5,
                `request ${k} row ${r}: ${p[r * 4 + c]} vs ${want[c]}`,
              );
        }
      }
      assert.ok(srv.app.tessera.ctx.bodies.idleBytes > 0, "bodies were given back");
    } finally {
      await srv.close();
    }
  });
});
