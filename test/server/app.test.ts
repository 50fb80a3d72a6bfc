/** The server over a real socket on 127.0.0.1: every endpoint, binary round trips, every bad-input case. */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connect } from "node:net";
import { deflateSync, gzipSync } from "node:zlib";
import { GraphBuilder, mlpClassifier } from "../../src/onnx/index.ts";
import {
  decodeInferResponse,
  encodeInferRequest,
  type ClientRequest,
  type DecodedResponse,
} from "../../src/server/index.ts";
import { f16ArrayToF32, f32ArrayToF16 } from "../../src/tensor/index.ts";
import { LABELS, type Running, standardRepo, startApp, writeRepo } from "./helpers.ts";

let srv: Running;

async function call(
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
) {
  const res = await fetch(srv.url + path, {
    method,
    ...(body !== undefined ? { body } : {}),
    headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
  });
  const buf = Buffer.from(await res.arrayBuffer());
  let json: unknown;
  try {
    json = JSON.parse(buf.toString());
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, buf, json: json as Record<string, unknown> };
}

async function infer(model: string, req: ClientRequest, path = `/v2/models/${model}/infer`) {
  const { body, headers } = encodeInferRequest(req);
  const res = await call("POST", path, body, headers);
  if (res.status !== 200) return { ...res, decoded: undefined };
  const d = decodeInferResponse(res.buf, res.headers.get("inference-header-content-length") ?? undefined);
  if (!d.ok) assert.fail(JSON.stringify(d.issues));
  return { ...res, decoded: d.value as DecodedResponse };
}

const row = (k: number) => Float32Array.from({ length: 8 }, (_, i) => (i - 3) * 0.25 + k * 0.1);

async function expectError<T extends { status: number; json: Record<string, unknown> }>(
  p: Promise<T>,
  status: number,
  pattern: RegExp,
): Promise<T> {
  const r = await p;
  assert.equal(r.status, status, JSON.stringify(r.json));
  assert.match(String(r.json.error), pattern);
  return r;
}

before(async () => {
  srv = await startApp(standardRepo(), {
    maxItemsPerRequest: 16,
    bodyLimitBytes: 64 * 1024,
    requestTimeoutMs: 5000,
  });
});
after(async () => {
  await srv.close();
});

describe("health and metadata", () => {
  test("live, ready, server metadata with extensions", async () => {
    assert.equal((await call("GET", "/v2/health/live")).status, 200);
    const ready = await call("GET", "/v2/health/ready");
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.json, { ready: true });
    const meta = await call("GET", "/v2");
    assert.equal(meta.json.name, "tessera");
    assert.ok((meta.json.extensions as string[]).includes("binary_tensor_data"));
    assert.ok((meta.json.extensions as string[]).includes("model_repository"));
  });

  test("model metadata with and without version; symbolic dims are -1", async () => {
    for (const path of ["/v2/models/mlp", "/v2/models/mlp/versions/1"]) {
      const r = await call("GET", path);
      assert.equal(r.status, 200);
      assert.equal(r.json.platform, "onnx_onnxv1");
      assert.deepEqual(r.json.inputs, [{ name: "input", datatype: "FP32", shape: [-1, 8] }]);
      assert.deepEqual(r.json.versions, ["1"]);
      assert.equal((r.json.properties as Record<string, string>).labels, JSON.stringify(LABELS));
    }
    const multi = await call("GET", "/v2/models/multi");
    assert.deepEqual(
      (multi.json.inputs as { datatype: string }[]).map((i) => i.datatype),
      ["FP32", "INT64", "BOOL", "FP16"],
    );
  });

  test("model ready with and without version", async () => {
    assert.equal((await call("GET", "/v2/models/mlp/ready")).status, 200);
    assert.equal((await call("GET", "/v2/models/mlp/versions/1/ready")).status, 200);
    await expectError(call("GET", "/v2/models/nope/ready"), 404, /nope/);
    await expectError(call("GET", "/v2/models/mlp/versions/7/ready"), 404, /version/);
  });

  test("a trailing slash reaches the same route (it used to answer 405 'GET is not allowed; allowed: GET')", async () => {
    assert.equal((await call("GET", "/v2/health/ready/")).status, 200);
    assert.equal((await call("GET", "/v2/")).json.name, "tessera");
    const meta = await call("GET", "/v2/models/mlp/");
    assert.equal(meta.status, 200, JSON.stringify(meta.json));
    assert.equal(meta.json.name, "mlp");
    const { body, headers } = encodeInferRequest({
      id: "slash",
      inputs: [{ name: "input", datatype: "FP32", shape: [1, 8], data: row(0) }],
    });
    const r = await call("POST", "/v2/models/mlp/versions/1/infer/", body, headers);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.id, "slash");
    // A wrong method on such a path still answers 405 with the methods that exist.
    const wrong = await expectError(call("DELETE", "/v2/models/mlp/"), 405, /DELETE is not allowed/);
    assert.equal(wrong.headers.get("allow"), "GET, HEAD");
  });

  test("x-request-id is honoured and echoed; a fresh one otherwise", async () => {
    const r = await call("GET", "/v2/health/live", undefined, { "x-request-id": "trace-123" });
    assert.equal(r.headers.get("x-request-id"), "trace-123");
    assert.match((await call("GET", "/v2")).headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
  });

  test("CORS is off unless configured", async () => {
    const r = await call("GET", "/v2", undefined, { origin: "https://evil.example" });
    assert.equal(r.headers.get("access-control-allow-origin"), null);
  });
});

describe("infer", () => {
  test("JSON with and without version; id echoed; nested data", async () => {
    const data = [Array.from(row(0)), Array.from(row(1))];
    const body = JSON.stringify({
      id: "req-7",
      inputs: [{ name: "input", datatype: "FP32", shape: [2, 8], data }],
    });
    const a = await call("POST", "/v2/models/mlp/infer", body);
    const b = await call("POST", "/v2/models/mlp/versions/1/infer", body);
    assert.equal(a.status, 200, JSON.stringify(a.json));
    assert.equal(a.json.id, "req-7");
    assert.equal(a.json.model_name, "mlp");
    assert.equal(a.json.model_version, "1");
    assert.deepEqual(a.json.outputs, b.json.outputs);
    const outs = a.json.outputs as { name: string; shape: number[]; data: number[] }[];
    assert.deepEqual(
      outs.map((o) => [o.name, o.shape]),
      [
        ["logits", [2, 4]],
        ["probabilities", [2, 4]],
      ],
    );
    const p = outs[1]!.data;
    assert.ok(Math.abs(p.slice(0, 4).reduce((s, x) => s + x, 0) - 1) < 1e-5);
  });

  test("requested outputs, per-output binary_data and classification (BYTES) in JSON and binary", async () => {
    const r = await infer("mlp", {
      inputs: [{ name: "input", datatype: "FP32", shape: [1, 8], data: row(2) }],
      outputs: [
        { name: "probabilities", parameters: { binary_data: true } },
        { name: "logits", parameters: { classification: 2 } },
      ],
    });
    assert.equal(r.status, 200);
    const [p, cls] = r.decoded!.outputs;
    assert.equal(p!.name, "probabilities");
    assert.equal(p!.parameters.binary_data_size, 16);
    assert.equal(cls!.datatype, "BYTES");
    assert.deepEqual(cls!.shape, [1, 2]);
    const probs = Array.from(p!.data as Float32Array);
    const best = probs.indexOf(Math.max(...probs));
    const first = Buffer.from((cls!.data as Uint8Array[])[0]!).toString();
    assert.match(first, new RegExp(`^-?[\\d.e-]+:${best}:${LABELS[best]}$`));

    const bin = await infer("mlp", {
      parameters: { binary_data_output: true },
      inputs: [{ name: "input", datatype: "FP32", shape: [1, 8], data: row(2) }],
      outputs: [{ name: "logits", parameters: { classification: 3 } }],
    });
    assert.equal(bin.headers.get("content-type"), "application/octet-stream");
    const strings = (bin.decoded!.outputs[0]!.data as Uint8Array[]).map((b) => Buffer.from(b).toString());
    assert.equal(strings.length, 3);
    assert.equal(strings[0], first);
  });

  test('"outputs": [] means every output, as when outputs is left out (Triton); it answered no outputs', async () => {
    const inputs = [{ name: "input", datatype: "FP32", shape: [1, 8], data: Array.from(row(1)) }];
    const all = await call("POST", "/v2/models/mlp/infer", JSON.stringify({ inputs }));
    const empty = await call("POST", "/v2/models/mlp/infer", JSON.stringify({ inputs, outputs: [] }));
    assert.equal(empty.status, 200, JSON.stringify(empty.json));
    assert.deepEqual(
      (empty.json.outputs as { name: string }[]).map((o) => o.name),
      ["logits", "probabilities"],
    );
    assert.deepEqual(empty.json, all.json);
  });

  test("binary round trip of every dtype the model takes: FP32, INT64, BOOL, FP16 in and out", async () => {
    const x = Float32Array.from([1, 2, 3, 4, -1, -2, -3, -4]);
    const ids = BigInt64Array.from([1n, 2n, 9007199254740993n, -5n, 0n, 7n]);
    const flag = Uint8Array.from([1, 0]);
    const half = f32ArrayToF16(Float32Array.from([0.5, -1.5, 2, 1000]));
    const r = await infer("multi", {
      parameters: { binary_data_output: true },
      inputs: [
        { name: "x", datatype: "FP32", shape: [2, 4], data: x, binary: true },
        { name: "ids", datatype: "INT64", shape: [2, 3], data: ids, binary: true },
        { name: "flag", datatype: "BOOL", shape: [2], data: flag, binary: true },
        { name: "half", datatype: "FP16", shape: [2, 2], data: half },
      ],
    });
    assert.equal(r.status, 200, r.buf.toString());
    const out = Object.fromEntries(r.decoded!.outputs.map((o) => [o.name, o]));
    assert.deepEqual(
      Array.from(out.y!.data as Float32Array),
      Array.from(x, (v) => 2 * v + 1),
    );
    assert.deepEqual(
      Array.from(out.ids_plus_one!.data as BigInt64Array),
      Array.from(ids, (v) => v + 1n),
    );
    assert.deepEqual(Array.from(out.not_flag!.data as Uint8Array), [0, 1]);
    assert.equal(out.half_doubled!.datatype, "FP16");
    assert.deepEqual(Array.from(f16ArrayToF32(out.half_doubled!.data as Uint16Array)), [1, -3, 4, 2000]);
    for (const o of r.decoded!.outputs) assert.equal(typeof o.parameters.binary_data_size, "number");
  });

  test("classification of an FP16 output ranks and prints the half values (it used their raw bit patterns)", async () => {
    const r = await infer("multi", {
      inputs: [
        { name: "x", datatype: "FP32", shape: [2, 4], data: new Float32Array(8) },
        { name: "ids", datatype: "INT64", shape: [2, 3], data: new BigInt64Array(6) },
        { name: "flag", datatype: "BOOL", shape: [2], data: Uint8Array.from([1, 0]) },
        // half_doubled = 2 × half: rows [3, -4] and [-1, -0.5]
        {
          name: "half",
          datatype: "FP16",
          shape: [2, 2],
          data: f32ArrayToF16(Float32Array.from([1.5, -2, -0.5, -0.25])),
        },
      ],
      outputs: [{ name: "half_doubled", parameters: { classification: 2 } }],
    });
    assert.equal(r.status, 200, r.buf.toString());
    const out = r.decoded!.outputs[0]!;
    assert.equal(out.datatype, "BYTES");
    assert.deepEqual(out.shape, [2, 2]);
    assert.deepEqual(
      (out.data as Uint8Array[]).map((b) => Buffer.from(b).toString()),
      ["3:0", "-4:1", "-0.5:1", "-1:0"],
    );
  });

  test("FP16 outputs go binary even in a JSON response; INT64 keeps every digit in JSON", async () => {
    const res = await call(
      "POST",
      "/v2/models/multi/infer",
      ...(() => {
        const e = encodeInferRequest({
          inputs: [
            { name: "x", datatype: "FP32", shape: [1, 4], data: new Float32Array(4) },
            {
              name: "ids",
              datatype: "INT64",
              shape: [1, 3],
              data: BigInt64Array.from([9007199254740993n, 0n, 1n]),
            },
            { name: "flag", datatype: "BOOL", shape: [1], data: Uint8Array.from([1]) },
            { name: "half", datatype: "FP16", shape: [1, 2], data: new Uint16Array(2) },
          ],
        });
        return [e.body, e.headers] as const;
      })(),
    );
    assert.equal(res.status, 200, res.buf.toString());
    const h = Number(res.headers.get("inference-header-content-length"));
    const header = res.buf.subarray(0, h).toString();
    assert.match(
      header,
      /"name":"ids_plus_one","datatype":"INT64","shape":\[1,3\],"data":\[9007199254740994,1,2\]/,
    );
    assert.match(
      header,
      /"name":"half_doubled","datatype":"FP16","shape":\[1,2\],"parameters":\{"binary_data_size":4\}/,
    );
  });

  test("BF16 is widened to FP32 for an FP32 input, and refused elsewhere", async () => {
    const x = row(3);
    const bits = new Uint16Array(new Uint32Array(x.buffer).map((u) => u >>> 16));
    const exact = new Float32Array(new Uint32Array(Array.from(bits, (b) => b << 16)).buffer);
    const viaBf16 = await infer("mlp", {
      inputs: [{ name: "input", datatype: "BF16", shape: [1, 8], data: bits }],
    });
    const viaF32 = await infer("mlp", {
      inputs: [{ name: "input", datatype: "FP32", shape: [1, 8], data: exact }],
    });
    assert.equal(viaBf16.status, 200, viaBf16.buf.toString());
    assert.deepEqual(viaBf16.decoded!.outputs, viaF32.decoded!.outputs);
    const bad = await infer("multi", {
      inputs: [
        { name: "x", datatype: "FP32", shape: [1, 4], data: new Float32Array(4) },
        { name: "ids", datatype: "INT64", shape: [1, 3], data: new BigInt64Array(3) },
        { name: "flag", datatype: "BOOL", shape: [1], data: new Uint8Array(1) },
        { name: "half", datatype: "BF16", shape: [1, 2], data: new Uint16Array(2) },
      ],
    });
    assert.equal(bad.status, 400);
    assert.match(String(bad.json.error), /input "half": expected FP16, got BF16/);
  });
});

describe("raw binary requests and compressed bodies", () => {
  test("Inference-Header-Content-Length: 0 feeds the single input; outputs come back binary", async () => {
    const x = row(4);
    const raw = await call("POST", "/v2/models/mlp/infer", Buffer.from(x.buffer), {
      "content-type": "application/octet-stream",
      "inference-header-content-length": "0",
    });
    assert.equal(raw.status, 200, raw.buf.toString());
    const d = decodeInferResponse(raw.buf, raw.headers.get("inference-header-content-length") ?? undefined);
    if (!d.ok) assert.fail(JSON.stringify(d.issues));
    const viaJson = await infer("mlp", {
      inputs: [{ name: "input", datatype: "FP32", shape: [1, 8], data: x }],
    });
    assert.deepEqual(
      d.value.outputs.map((o) => Array.from(o.data as Float32Array)),
      viaJson.decoded!.outputs.map((o) => Array.from(o.data as Float32Array)),
    );
    assert.deepEqual(d.value.outputs[0]!.shape, [1, 4]);
    await expectError(
      call("POST", "/v2/models/mlp/infer", Buffer.alloc(7), { "inference-header-content-length": "0" }),
      400,
      /raw binary body of 7 bytes does not fill FP32 \[-1,8\]/,
    );
    await expectError(
      call("POST", "/v2/models/multi/infer", Buffer.alloc(16), { "inference-header-content-length": "0" }),
      400,
      /needs a model with one input; multi has 4/,
    );
  });

  test("Content-Encoding gzip and deflate are decoded, bounded by the body limit; others are 415", async () => {
    const body = JSON.stringify({
      inputs: [{ name: "input", datatype: "FP32", shape: [1, 8], data: Array.from(row(1)) }],
    });
    const plain = await call("POST", "/v2/models/mlp/infer", body);
    const gz = await call("POST", "/v2/models/mlp/infer", gzipSync(body), { "content-encoding": "gzip" });
    const df = await call("POST", "/v2/models/mlp/infer", deflateSync(body), {
      "content-encoding": "deflate",
    });
    assert.equal(gz.status, 200, gz.buf.toString());
    assert.deepEqual(gz.json.outputs, plain.json.outputs);
    assert.deepEqual(df.json.outputs, plain.json.outputs);
    await expectError(
      call("POST", "/v2/models/mlp/infer", body, { "content-encoding": "br" }),
      415,
      /not supported/,
    );
    await expectError(
      call("POST", "/v2/models/mlp/infer", gzipSync(Buffer.alloc(1 << 20, 32)), {
        "content-encoding": "gzip",
      }),
      413,
      /expands beyond/,
    );
    await expectError(
      call("POST", "/v2/models/mlp/infer", Buffer.from("not gzip"), { "content-encoding": "gzip" }),
      400,
      /not valid gzip/,
    );
  });
});

describe("bad input never gives a 500", () => {
  const mlpBody = (input: Record<string, unknown>) =>
    JSON.stringify({ inputs: [{ name: "input", ...input }] });

  test("unknown model 404, invalid name 400", async () => {
    await expectError(
      call("POST", "/v2/models/nope/infer", mlpBody({ datatype: "FP32", shape: [1], data: [1] })),
      404,
      /"nope" not found/,
    );
    await expectError(call("GET", "/v2/models/..%2F..%2Fetc"), 400, /model name .* is invalid/);
    await expectError(call("GET", "/v2/models/mlp/versions/abc"), 400, /version/);
  });

  test("a wrong method on a known path is 405 with Allow; an unknown path is 404", async () => {
    let r = await expectError(call("GET", "/v2/models/mlp/infer"), 405, /GET is not allowed/);
    assert.equal(r.json.code, "E_METHOD_NOT_ALLOWED");
    assert.equal(r.headers.get("allow"), "POST");
    r = await expectError(call("DELETE", "/v2/models/mlp/versions/1/infer"), 405, /allowed: POST/);
    r = await expectError(call("POST", "/v2/health/ready", "{}"), 405, /not allowed/);
    assert.equal(r.headers.get("allow"), "GET, HEAD");
    r = await expectError(call("PUT", "/v2/models/mlp"), 405, /not allowed/);
    assert.equal(r.headers.get("allow"), "GET, HEAD");
    r = await expectError(call("GET", "/v2/nothing/here"), 404, /no route GET \/v2\/nothing\/here/);
    assert.equal(r.json.code, "E_ROUTE_NOT_FOUND");
    assert.equal(r.headers.get("allow"), null);
  });

  test("a bad URL or malformed HTTP gets the JSON error shape with an E_ code (was Fastify's own body)", async () => {
    const bad = await expectError(call("GET", "/v2/models/%ZZ"), 400, /not a valid URL|percent/);
    assert.equal(bad.json.code, "E_REQUEST_INVALID");
    assert.equal(bad.json.statusCode, undefined);
    // A header line without a colon: Node's parser refuses it before any route runs.
    const port = new URL(srv.url).port;
    const raw = await new Promise<string>((resolve, reject) => {
      const s = connect(Number(port), "127.0.0.1", () => {
        s.write("GET /v2 HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n");
      });
      let got = "";
      s.on("data", (c) => {
        got += c.toString();
      });
      s.on("close", () => resolve(got));
      s.on("error", reject);
    });
    assert.match(raw, /^HTTP\/1\.1 400 /);
    const json = JSON.parse(raw.slice(raw.indexOf("\r\n\r\n") + 4)) as Record<string, unknown>;
    assert.equal(json.code, "E_REQUEST_INVALID");
    assert.match(String(json.error), /malformed HTTP request/);
  });

  test("malformed JSON 400", async () => {
    await expectError(call("POST", "/v2/models/mlp/infer", "{ oops"), 400, /malformed JSON/);
    await expectError(call("POST", "/v2/models/mlp/infer", ""), 400, /malformed JSON/);
  });

  test("wrong shape, wrong dtype, count mismatch, BYTES where a number is expected: 400 naming the tensor", async () => {
    await expectError(
      call(
        "POST",
        "/v2/models/mlp/infer",
        mlpBody({ datatype: "FP32", shape: [1, 5], data: [1, 2, 3, 4, 5] }),
      ),
      400,
      /input/,
    );
    await expectError(
      call(
        "POST",
        "/v2/models/mlp/infer",
        mlpBody({ datatype: "INT32", shape: [1, 8], data: [1, 2, 3, 4, 5, 6, 7, 8] }),
      ),
      400,
      /input "input": expected FP32, got INT32/,
    );
    await expectError(
      call("POST", "/v2/models/mlp/infer", mlpBody({ datatype: "FP32", shape: [1, 8], data: [1, 2, 3] })),
      400,
      /input "input": data has 3 elements but shape \[1,8\] holds 8/,
    );
    await expectError(
      call("POST", "/v2/models/mlp/infer", mlpBody({ datatype: "FP32", shape: [1, 2], data: [1, "x"] })),
      400,
      /input "input": data element 1 is a string \("x"\), expected a number for FP32/,
    );
    await expectError(
      call("POST", "/v2/models/mlp/infer", mlpBody({ datatype: "BYTES", shape: [1, 1], data: ["hello"] })),
      400,
      /input "input": expected FP32, got BYTES/,
    );
    await expectError(
      call(
        "POST",
        "/v2/models/mlp/infer",
        JSON.stringify({ inputs: [{ name: "other", datatype: "FP32", shape: [1], data: [1] }] }),
      ),
      400,
      /unknown input "other".*missing input "input"/,
    );
    await expectError(
      call(
        "POST",
        "/v2/models/mlp/infer",
        JSON.stringify({
          inputs: [{ name: "input", datatype: "FP32", shape: [1, 8], data: Array.from(row(0)) }],
          outputs: [{ name: "nah" }],
        }),
      ),
      400,
      /unknown output "nah"/,
    );
  });

  test("a binary header that lies about lengths 400", async () => {
    const { body, headers } = encodeInferRequest({
      inputs: [{ name: "input", datatype: "FP32", shape: [1, 8], data: row(0), binary: true }],
    });
    const h = Number(headers["inference-header-content-length"]);
    await expectError(
      call("POST", "/v2/models/mlp/infer", body, {
        ...headers,
        "inference-header-content-length": String(body.length + 10),
      }),
      400,
      /Inference-Header-Content-Length/,
    );
    await expectError(
      call("POST", "/v2/models/mlp/infer", body.subarray(0, body.length - 8), headers),
      400,
      /binary_data_size 32 runs past the end/,
    );
    await expectError(
      call("POST", "/v2/models/mlp/infer", body, {
        ...headers,
        "inference-header-content-length": String(h - 3),
      }),
      400,
      /malformed JSON/,
    );
  });

  test("too large: body over the limit and rows over max items 413", async () => {
    const big = Buffer.alloc(70 * 1024, 32);
    await expectError(call("POST", "/v2/models/mlp/infer", big), 413, /larger than the limit/);
    const rows = 17;
    await expectError(
      call(
        "POST",
        "/v2/models/mlp/infer",
        mlpBody({ datatype: "FP32", shape: [rows, 8], data: new Array(rows * 8).fill(0) }),
      ),
      413,
      /17 rows .* at most 16/,
    );
  });

  test("overload 429 with Retry-After; timeout 504", async () => {
    const slowReq = () =>
      call(
        "POST",
        "/v2/models/slow/infer",
        JSON.stringify({
          inputs: [{ name: "x", datatype: "FP32", shape: [1, 128], data: new Array(128).fill(0.01) }],
        }),
      );
    const results = await Promise.all(Array.from({ length: 8 }, slowReq));
    const statuses = results.map((r) => r.status);
    assert.ok(statuses.includes(200), `some succeed: ${statuses}`);
    const limited = results.filter((r) => r.status === 429);
    assert.ok(limited.length > 0, `some are turned away: ${statuses}`);
    assert.match(limited[0]!.headers.get("retry-after") ?? "", /^\d+$/);
    assert.match(String(limited[0]!.json.error), /queue/i);

    const t = await call(
      "POST",
      "/v2/models/slow/infer",
      JSON.stringify({
        parameters: { timeout: 20_000 },
        inputs: [{ name: "x", datatype: "FP32", shape: [1, 128], data: new Array(128).fill(0.01) }],
      }),
    );
    assert.equal(t.status, 504, JSON.stringify(t.json));
    assert.match(String(t.json.error), /deadline/);
  });

  test("metadata shows inputs of the slow model (sanity for the next tests)", async () => {
    const r = await call("GET", "/v2/models/slow");
    assert.equal(r.status, 200);
  });
});

describe("batching, disconnects, repository and metrics", () => {
  test("concurrent clients are batched together (batch-size histogram shows batches > 1)", async () => {
    const before = (await call("GET", "/metrics")).buf.toString();
    const count0 = metric(before, 'tessera_batch_size_count{model="mlp"}');
    const rows0 = metric(before, 'tessera_batch_size_sum{model="mlp"}');
    // Histogram buckets are cumulative over the whole suite: compare this test's increments only.
    const le1_0 = metric(before, 'tessera_batch_size_bucket{le="1",model="mlp"}');
    const total0 = metric(before, 'tessera_batch_size_bucket{le="+Inf",model="mlp"}');
    const reqs = Array.from({ length: 48 }, (_, k) =>
      infer("mlp", { inputs: [{ name: "input", datatype: "FP32", shape: [1, 8], data: row(k) }] }),
    );
    const res = await Promise.all(reqs);
    assert.ok(res.every((r) => r.status === 200));
    // each request's answer is its own row: compare with one-at-a-time results
    const single = await infer("mlp", {
      inputs: [{ name: "input", datatype: "FP32", shape: [1, 8], data: row(5) }],
    });
    assert.deepEqual(res[5]!.decoded!.outputs, single.decoded!.outputs);
    const text = (await call("GET", "/metrics")).buf.toString();
    const batches = metric(text, 'tessera_batch_size_count{model="mlp"}') - count0;
    const rows = metric(text, 'tessera_batch_size_sum{model="mlp"}') - rows0;
    assert.ok(batches < 48, `48 requests ran in ${batches} batches`);
    const le1 = metric(text, 'tessera_batch_size_bucket{le="1",model="mlp"}') - le1_0;
    const total = metric(text, 'tessera_batch_size_bucket{le="+Inf",model="mlp"}') - total0;
    assert.ok(total - le1 > 0, `some batches hold more than one row (${rows} rows in ${total} batches)`);
    // 48 rows plus the one-at-a-time check, all counted in this test's batches.
    assert.equal(rows, 49);
  });

  test("a request whose client disconnected is dropped from the queue", async () => {
    const text0 = (await call("GET", "/metrics")).buf.toString();
    const runs0 = metric(text0, 'tessera_batch_size_count{model="slow"}');
    const body = JSON.stringify({
      inputs: [{ name: "x", datatype: "FP32", shape: [1, 128], data: new Array(128).fill(0.01) }],
    });
    const first = call("POST", "/v2/models/slow/infer", body);
    await new Promise((r) => setTimeout(r, 50));
    const ac = new AbortController();
    const second = fetch(`${srv.url}/v2/models/slow/infer`, {
      method: "POST",
      body,
      signal: ac.signal,
      headers: { "content-type": "application/json" },
    });
    await new Promise((r) => setTimeout(r, 50));
    ac.abort();
    await assert.rejects(second);
    assert.equal((await first).status, 200);
    await new Promise((r) => setTimeout(r, 400));
    const text = (await call("GET", "/metrics")).buf.toString();
    assert.equal(
      metric(text, 'tessera_batch_size_count{model="slow"}') - runs0,
      1,
      "only the first request ran",
    );
    assert.ok(metric(text, 'tessera_rejected_requests_total{model="slow",reason="client_gone"}') >= 1);
  });

  test("repository index, unload (model 503, server still ready), load (ready again)", async () => {
    const idx = await call("POST", "/v2/repository/index", "");
    assert.deepEqual(
      (idx.json as unknown as { name: string; state: string }[]).map((m) => [m.name, m.state]),
      [
        ["mlp", "READY"],
        ["multi", "READY"],
        ["slow", "READY"],
      ],
    );
    assert.equal((await call("POST", "/v2/repository/models/multi/unload", "")).status, 200);
    // Triton's strict readiness counts the models that are supposed to be loaded: an explicit unload does not take
    // the server (a k8s pod) out of service.
    const ready = await call("GET", "/v2/health/ready");
    assert.equal(ready.status, 200);
    const afterUnload = await call("POST", "/v2/repository/index", "");
    assert.deepEqual(
      (afterUnload.json as unknown as { name: string; state: string; reason: string }[]).find(
        (m) => m.name === "multi",
      ),
      { name: "multi", version: "1", state: "UNAVAILABLE", reason: "unloaded" },
    );
    await expectError(call("GET", "/v2/models/multi/ready"), 503, /not ready|unavailable/i);
    await expectError(
      call(
        "POST",
        "/v2/models/multi/infer",
        JSON.stringify({ inputs: [{ name: "x", datatype: "FP32", shape: [1, 4], data: [1, 2, 3, 4] }] }),
      ),
      503,
      /multi/,
    );
    const onlyReady = await call("POST", "/v2/repository/index", JSON.stringify({ ready: true }));
    assert.deepEqual(
      (onlyReady.json as unknown as { name: string }[]).map((m) => m.name),
      ["mlp", "slow"],
    );
    assert.equal((await call("POST", "/v2/repository/models/multi/load", "")).status, 200);
    assert.equal((await call("GET", "/v2/models/multi/ready")).status, 200);
    assert.equal((await call("GET", "/v2/health/ready")).status, 200);
    await expectError(call("POST", "/v2/repository/models/ghost/load", ""), 404, /ghost/);
    await expectError(
      call("POST", "/v2/repository/models/mlp/load", JSON.stringify({ parameters: { config: "{}" } })),
      400,
      /not supported/,
    );
  });

  test("an unknown name in load/unload/infer answers 404 without the server's repository path", async () => {
    for (const [method, path] of [
      ["POST", "/v2/repository/models/ghost/load"],
      ["POST", "/v2/repository/models/ghost/unload"],
      ["GET", "/v2/models/ghost"],
      ["POST", "/v2/models/ghost/infer"],
    ] as const) {
      const r = await expectError(call(method, path, method === "POST" ? "{}" : undefined), 404, /ghost/);
      assert.ok(!String(r.json.error).includes(srv.root), `${path}: ${String(r.json.error)}`);
    }
  });

  test("/metrics has the operational series", async () => {
    const r = await call("GET", "/metrics");
    assert.match(r.headers.get("content-type") ?? "", /text\/plain/);
    const text = r.buf.toString();
    for (const name of [
      "tessera_requests_total",
      "tessera_request_duration_seconds_bucket",
      "tessera_queue_duration_seconds_bucket",
      "tessera_compute_duration_seconds_bucket",
      "tessera_batch_size_bucket",
      "tessera_queue_depth",
      "tessera_inflight_requests",
      "tessera_model_load_seconds",
      'tessera_model_provider_info{model="mlp",version="1",provider="cpu"} 1',
      'status="404"',
      'status="413"',
      'status="429"',
    ]) {
      assert.ok(text.includes(name), `metrics include ${name}`);
    }
    assert.ok(!/status="5\d\d"/.test(text.replace(/status="50[34]"/g, "")), "no 500s were served");
  });
});

describe("model names up to the 128 characters checkModelName allows", () => {
  test("are reachable (the router cut parameters at 100 characters: 414 with Fastify's body); longer ones are 400", async () => {
    const name = `m${"x".repeat(119)}`;
    const other = await startApp(
      writeRepo([
        {
          name,
          bytes: mlpClassifier({ inputDim: 4, hidden: [8], classes: 2 }).bytes,
          config: { replicas: 1, intraOpThreads: 1 },
        },
      ]),
    );
    try {
      const meta = await fetch(`${other.url}/v2/models/${name}`);
      assert.equal(meta.status, 200, await meta.clone().text());
      assert.equal(((await meta.json()) as { name: string }).name, name);
      const r = await fetch(`${other.url}/v2/models/${name}/versions/1/infer`, {
        method: "POST",
        body: JSON.stringify({
          inputs: [{ name: "input", datatype: "FP32", shape: [1, 4], data: [1, 2, 3, 4] }],
        }),
      });
      assert.equal(r.status, 200, await r.clone().text());
      const long = await fetch(`${other.url}/v2/models/${"y".repeat(300)}`);
      assert.equal(long.status, 400);
      assert.equal(((await long.json()) as { code: string }).code, "E_MODEL_NAME_INVALID");
    } finally {
      await other.close();
    }
  });
});

describe("--max-items counts rows of batched models only", () => {
  test("a model without a batch dim (fixed first dim) takes its whole input whatever --max-items says", async () => {
    const g = new GraphBuilder({ name: "wave", opset: 17 });
    g.input("samples", "float32", [64]);
    g.node("ReduceSum", ["samples"], ["total"], { keepdims: 1 });
    g.output("total", "float32", [1]);
    const other = await startApp(
      writeRepo([{ name: "wave", bytes: g.toBytes(), config: { replicas: 1, intraOpThreads: 1 } }]),
      { maxItemsPerRequest: 16 },
    );
    try {
      const r = await fetch(`${other.url}/v2/models/wave/infer`, {
        method: "POST",
        body: JSON.stringify({
          inputs: [{ name: "samples", datatype: "FP32", shape: [64], data: new Array(64).fill(0.5) }],
        }),
      });
      const text = await r.text();
      assert.equal(r.status, 200, text);
      assert.deepEqual((JSON.parse(text) as { outputs: { data: number[] }[] }).outputs[0]!.data, [32]);
    } finally {
      await other.close();
    }
  });
});

/** The value of one exact series line in Prometheus text. */
export function metric(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}
