import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { describe, test } from "node:test";
import { alignmentPad, readBody } from "../../src/server/body.ts";
import { decodeBinaryChunk, encodeInferRequest, parseInferRequest } from "../../src/server/index.ts";
import { TesseraError } from "../../src/tensor/index.ts";

/** Feeds `chunks` through a stream into readBody; resolves with the body or the error. */
function read(
  chunks: Buffer[],
  headers: Record<string, string>,
  limit = 1 << 20,
  fail?: Error,
): Promise<{ err: (Error & { statusCode?: number }) | null; body?: Buffer }> {
  const s = new PassThrough();
  const p = new Promise<{ err: Error | null; body?: Buffer }>((resolve) => {
    let calls = 0;
    readBody(s, headers, limit, (err, body) => {
      calls++;
      assert.equal(calls, 1, "done is called once");
      resolve({ err, ...(body ? { body } : {}) });
    });
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
