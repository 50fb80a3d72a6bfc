import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  allocWire,
  DATATYPE_NAMES,
  type Datatype,
  decodeInferResponse,
  encodeInferRequest,
  type InferRequest,
  parseInferRequest,
  parseRawRequest,
  serializeInferResponse,
  type WireArray,
} from "../../src/server/protocol/index.ts";

const enc = (o: unknown) => Buffer.from(JSON.stringify(o));

function parseOk(body: Uint8Array, header?: string): InferRequest {
  const r = parseInferRequest(body, header);
  if (!r.ok) assert.fail(JSON.stringify(r.issues));
  return r.value;
}

function parseErr(body: Uint8Array, header?: string): string {
  const r = parseInferRequest(body, header);
  assert.equal(r.ok, false, "expected a parse failure");
  return r.ok ? "" : r.issues.map((i) => `${i.path}: ${i.message}`).join("\n");
}

function sample(dt: Datatype, n: number): WireArray {
  const a = allocWire(dt, n);
  for (let i = 0; i < n; i++) {
    if (dt === "BYTES") (a as Uint8Array[])[i] = new TextEncoder().encode(`s${i}é`);
    else if (dt === "INT64") (a as BigInt64Array)[i] = BigInt(i) * -3000000000n;
    else if (dt === "UINT64") (a as BigUint64Array)[i] = 2n ** 63n + BigInt(i);
    else if (dt === "BOOL") (a as Uint8Array)[i] = i % 2;
    else if (dt === "FP16")
      (a as Uint16Array)[i] = 0x3c00 + i; // 1.0, 1.000977, …
    else if (dt === "BF16") (a as Uint16Array)[i] = 0x3f80 + i;
    else if (dt === "INT8" || dt === "INT16" || dt === "INT32") (a as Int32Array)[i] = i - 3;
    else (a as Float64Array)[i] = dt.startsWith("FP") ? i + 0.5 : i;
  }
  return a;
}

function sameData(a: WireArray, b: WireArray) {
  assert.equal(a.length, b.length);
  if (Array.isArray(a))
    assert.deepEqual(
      (b as Uint8Array[]).map((x) => Buffer.from(x).toString()),
      a.map((x) => Buffer.from(x).toString()),
    );
  else assert.deepEqual(Array.from(b as Float64Array), Array.from(a as Float64Array));
}

describe("protocol: request parsing", () => {
  for (const dt of DATATYPE_NAMES) {
    for (const binary of [false, true]) {
      if (!binary && (dt === "FP16" || dt === "BF16")) continue;
      test(`${dt} ${binary ? "binary" : "JSON"} round trip`, () => {
        const data = sample(dt, 6);
        const { body, headers } = encodeInferRequest({
          id: "r1",
          inputs: [{ name: "x", datatype: dt, shape: [2, 3], data, binary }],
        });
        const req = parseOk(body, headers["inference-header-content-length"]);
        assert.equal(req.id, "r1");
        assert.equal(req.inputs[0]!.datatype, dt);
        assert.deepEqual(req.inputs[0]!.shape, [2, 3]);
        sameData(data, req.inputs[0]!.data);
      });
    }
  }

  test("nested and flat JSON data give the same elements", () => {
    const flat = parseOk(
      enc({ inputs: [{ name: "x", datatype: "FP32", shape: [2, 2], data: [1, 2, 3, 4] }] }),
    );
    const nested = parseOk(
      enc({
        inputs: [
          {
            name: "x",
            datatype: "FP32",
            shape: [2, 2],
            data: [
              [1, 2],
              [3, 4],
            ],
          },
        ],
      }),
    );
    assert.deepEqual(Array.from(nested.inputs[0]!.data as Float32Array), [1, 2, 3, 4]);
    assert.deepEqual(Array.from(flat.inputs[0]!.data as Float32Array), [1, 2, 3, 4]);
  });

  test("nested data that disagrees with the shape names the dim", () => {
    const msg = parseErr(
      enc({ inputs: [{ name: "x", datatype: "FP32", shape: [2, 2], data: [[1, 2, 3], [4]] }] }),
    );
    assert.match(msg, /input "x": data\[0\] has 3 entries but shape \[2,2\] expects 2 at dim 1/);
  });

  test("data nested far deeper than any shape is a parse issue, not a stack overflow", () => {
    // Flattening used Array.prototype.flat(Infinity), which recurses once per level: 100k levels threw a
    // RangeError that reached the client as a 500.
    const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    for (const [shape, data] of [
      ["[4]", `[[1,2],${deep}]`],
      ["[1,4]", deep],
      ["[2]", `[[1],[${deep}]]`],
    ] as const) {
      const body = Buffer.from(`{"inputs":[{"name":"x","datatype":"FP32","shape":${shape},"data":${data}}]}`);
      const msg = parseErr(body);
      assert.match(msg, /inputs\[0\]\.data: input "x": /, shape);
    }
    // Mixed nesting that flattens to the right count still parses (Triton flattens any nesting).
    const ok = parseOk(
      enc({ inputs: [{ name: "x", datatype: "FP32", shape: [4], data: [[1, 2], [[3]], 4] }] }),
    );
    assert.deepEqual(Array.from(ok.inputs[0]!.data as Float32Array), [1, 2, 3, 4]);
  });

  test("element count mismatch", () => {
    const msg = parseErr(enc({ inputs: [{ name: "x", datatype: "INT32", shape: [2, 3], data: [1, 2, 3] }] }));
    assert.match(msg, /inputs\[0\]\.data: input "x": data has 3 elements but shape \[2,3\] holds 6/);
  });

  test("a string where a number is expected", () => {
    const msg = parseErr(enc({ inputs: [{ name: "x", datatype: "FP32", shape: [2], data: [1, "two"] }] }));
    assert.match(msg, /input "x": data element 1 is a string \("two"\), expected a number for FP32/);
  });

  test("integer range and BOOL type checks", () => {
    assert.match(
      parseErr(enc({ inputs: [{ name: "x", datatype: "UINT8", shape: [1], data: [256] }] })),
      /integer in \[0, 255\]/,
    );
    assert.match(
      parseErr(enc({ inputs: [{ name: "x", datatype: "INT32", shape: [1], data: [1.5] }] })),
      /integer/,
    );
    assert.match(
      parseErr(enc({ inputs: [{ name: "b", datatype: "BOOL", shape: [1], data: [1] }] })),
      /true or false/,
    );
  });

  test("INT64 accepts decimal strings and keeps every digit", () => {
    const r = parseOk(
      enc({ inputs: [{ name: "x", datatype: "INT64", shape: [2], data: ["9223372036854775807", -5] }] }),
    );
    assert.deepEqual(Array.from(r.inputs[0]!.data as BigInt64Array), [9223372036854775807n, -5n]);
  });

  test("FP16 in JSON is rejected with advice", () => {
    assert.match(
      parseErr(enc({ inputs: [{ name: "h", datatype: "FP16", shape: [1], data: [1] }] })),
      /FP16 is not supported in JSON; send it as binary data/,
    );
  });

  test("malformed JSON, wrong structure and unknown datatype report every issue", () => {
    assert.match(parseErr(Buffer.from("{ not json")), /malformed JSON/);
    const msg = parseErr(
      enc({
        id: 7,
        inputs: [
          { name: "", datatype: "FLOAT", shape: [-1], data: [] },
          { name: "y", datatype: "FP32", shape: [1] },
        ],
      }),
    );
    assert.match(msg, /^id: id must be a string/m);
    assert.match(msg, /inputs\[0\]\.name/);
    assert.match(msg, /inputs\[0\]\.datatype: .*"FLOAT".* is not one of BOOL/);
    assert.match(msg, /inputs\[0\]\.shape/);
    assert.match(msg, /input "y": data is missing/);
  });

  test("a binary header that lies about lengths", () => {
    const { body, headers } = encodeInferRequest({
      inputs: [{ name: "x", datatype: "FP32", shape: [4], data: new Float32Array(4), binary: true }],
    });
    const h = Number(headers["inference-header-content-length"]);
    assert.match(parseErr(body, String(body.length + 1)), /Inference-Header-Content-Length/);
    assert.match(parseErr(body, "abc"), /Inference-Header-Content-Length/);
    // the body is 4 bytes shorter than binary_data_size says
    assert.match(
      parseErr(body.subarray(0, body.length - 4), String(h)),
      /binary_data_size 16 runs past the end/,
    );
    // extra trailing bytes nobody claims
    assert.match(parseErr(Buffer.concat([body, Buffer.alloc(3)]), String(h)), /add up to 16/);
    // binary_data_size that disagrees with the shape
    const lie = Buffer.from(
      JSON.stringify({
        inputs: [{ name: "x", datatype: "FP32", shape: [4], parameters: { binary_data_size: 12 } }],
      }),
    );
    assert.match(
      parseErr(Buffer.concat([lie, Buffer.alloc(12)]), String(lie.length)),
      /binary_data_size is 12 bytes but shape \[4\] of FP32 needs 16/,
    );
  });

  test("BYTES binary with a length prefix that overruns", () => {
    const head = Buffer.from(
      JSON.stringify({
        inputs: [{ name: "s", datatype: "BYTES", shape: [1], parameters: { binary_data_size: 6 } }],
      }),
    );
    const chunk = Buffer.from([9, 0, 0, 0, 65, 66]);
    assert.match(
      parseErr(Buffer.concat([head, chunk]), String(head.length)),
      /length prefix says 9 bytes but only 2 remain/,
    );
  });

  test("data and binary_data_size together are refused", () => {
    assert.match(
      parseErr(
        enc({
          inputs: [
            { name: "x", datatype: "FP32", shape: [1], data: [1], parameters: { binary_data_size: 4 } },
          ],
        }),
      ),
      /exactly one of data and parameters.binary_data_size/,
    );
  });

  test("requested outputs with binary_data and classification", () => {
    const r = parseOk(
      enc({
        parameters: { binary_data_output: true },
        inputs: [{ name: "x", datatype: "FP32", shape: [1], data: [1] }],
        outputs: [
          { name: "a", parameters: { binary_data: false } },
          { name: "b", parameters: { classification: 2 } },
        ],
      }),
    );
    assert.equal(r.binaryOutputDefault, true);
    assert.deepEqual(
      r.outputs?.map((o) => [o.name, o.binary, o.classification]),
      [
        ["a", false, undefined],
        ["b", undefined, 2],
      ],
    );
  });
});

describe("protocol: raw binary requests", () => {
  test("the shape is derived from the byte length", () => {
    const bytes = new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer);
    const a = parseRawRequest(bytes, { name: "x", datatype: "FP32", shape: [-1, 3] });
    assert.ok(a.ok);
    assert.deepEqual(a.value.inputs[0]!.shape, [2, 3]);
    assert.equal(a.value.binaryOutputDefault, true);
    const b = parseRawRequest(bytes, { name: "x", datatype: "FP32", shape: [-1, -1] });
    assert.ok(b.ok);
    assert.deepEqual(b.value.inputs[0]!.shape, [1, 6]);
    assert.equal(parseRawRequest(bytes, { name: "x", datatype: "FP32", shape: [-1, -1, -1] }).ok, false);
    assert.equal(parseRawRequest(bytes, { name: "x", datatype: "FP32", shape: [4] }).ok, false);
    const s = parseRawRequest(new Uint8Array([2, 0, 0, 0, 104, 105]), {
      name: "s",
      datatype: "BYTES",
      shape: [1],
    });
    assert.ok(s.ok);
    assert.equal(Buffer.from((s.value.inputs[0]!.data as Uint8Array[])[0]!).toString(), "hi");
  });
});

describe("protocol: response serialization", () => {
  test("JSON response keeps INT64 digits and echoes id", () => {
    const s = serializeInferResponse({
      model_name: "m",
      model_version: "1",
      id: "abc",
      outputs: [
        {
          name: "y",
          datatype: "INT64",
          shape: [2],
          data: new BigInt64Array([9007199254740993n, -1n]),
          binary: false,
        },
      ],
    });
    assert.equal(s.contentType, "application/json");
    assert.equal(s.headerLength, undefined);
    assert.match(s.body.toString(), /"data":\[9007199254740993,-1\]/);
    assert.match(s.body.toString(), /"id":"abc"/);
  });

  test("binary outputs (FP16 forced, BYTES, FP32) decode back to the same data", () => {
    const outputs = [
      {
        name: "h",
        datatype: "FP16" as const,
        shape: [3],
        data: new Uint16Array([0x3c00, 0xc000, 0x7bff]),
        binary: false,
      },
      {
        name: "s",
        datatype: "BYTES" as const,
        shape: [2],
        data: [Buffer.from("hi"), Buffer.from("")],
        binary: true,
      },
      { name: "f", datatype: "FP32" as const, shape: [2], data: new Float32Array([0.25, -1]), binary: true },
      { name: "j", datatype: "BOOL" as const, shape: [2], data: new Uint8Array([1, 0]), binary: false },
    ];
    const s = serializeInferResponse({ model_name: "m", outputs });
    assert.equal(s.contentType, "application/octet-stream");
    const d = decodeInferResponse(s.body, String(s.headerLength));
    if (!d.ok) assert.fail(JSON.stringify(d.issues));
    for (const [i, o] of outputs.entries()) {
      assert.equal(d.value.outputs[i]!.name, o.name);
      sameData(o.data, d.value.outputs[i]!.data);
    }
    assert.equal(d.value.outputs[0]!.parameters.binary_data_size, 6);
    assert.equal(d.value.outputs[3]!.parameters.binary_data_size, undefined);
  });
});
