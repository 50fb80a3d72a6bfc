import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  fastParseInferJson,
  type InferRequest,
  parseInferObject,
  parseInferRequest,
  type Result,
} from "../../src/server/protocol/index.ts";

/** What the generic path (JSON.parse + conversion) gives for the same body. */
function generic(text: string): Result<InferRequest> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { ok: false, issues: [{ path: "", message: `malformed JSON: ${(e as Error).message}` }] };
  }
  return parseInferObject(raw, new Uint8Array(0));
}

function bits(a: ArrayLike<number> | unknown): string {
  const t = a as Float32Array | Float64Array;
  return Buffer.from(t.buffer, t.byteOffset, t.byteLength).toString("hex");
}

function body(datatype: string, shape: number[], dataText: string, extra = ""): string {
  return `{"id":"r1","inputs":[{"name":"x","datatype":"${datatype}","shape":${JSON.stringify(shape)},"data":${dataText}}${extra}],"outputs":[{"name":"y"}]}`;
}

/** Asserts the fast path took the body and agrees bit for bit with the generic path. */
function assertSame(text: string, expectFast = true): void {
  const bytes = Buffer.from(text);
  const fast = fastParseInferJson(bytes);
  if (expectFast) assert.notEqual(fast, null, `fast path declined: ${text.slice(0, 200)}`);
  const a = parseInferRequest(bytes);
  const b = generic(text);
  assert.equal(a.ok, b.ok, text.slice(0, 200));
  if (a.ok && b.ok) {
    assert.equal(a.value.inputs.length, b.value.inputs.length);
    a.value.inputs.forEach((inp, i) => {
      const g = b.value.inputs[i]!;
      assert.equal(inp.datatype, g.datatype);
      assert.deepEqual(inp.shape, g.shape);
      assert.equal(inp.data.constructor, g.data.constructor);
      assert.equal(bits(inp.data), bits(g.data), `data of ${text.slice(0, 300)}`);
    });
    assert.equal(a.value.id, b.value.id);
    assert.deepEqual(a.value.outputs, b.value.outputs);
  } else if (!a.ok && !b.ok) {
    assert.deepEqual(a.issues, b.issues);
  }
}

// Decimal texts of every kind a client may send: shortest doubles, float32 values printed as doubles,
// long digit strings, exponents, zeros, negatives.
const digits = fc.string({ unit: fc.constantFrom(..."0123456789"), minLength: 1, maxLength: 28 });
const decimalText = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((v) => JSON.stringify(v)),
  fc.float({ noNaN: true, noDefaultInfinity: true }).map((v) => JSON.stringify(v)),
  fc.float({ noNaN: true, noDefaultInfinity: true }).map((v) => Math.fround(v).toPrecision(9)),
  fc
    .tuple(fc.boolean(), digits, fc.option(digits), fc.option(fc.integer({ min: -60, max: 60 })))
    .map(([neg, int, frac, e]) => {
      const i = int.replace(/^0+(?=\d)/, "");
      return `${neg ? "-" : ""}${i}${frac !== null ? `.${frac}` : ""}${e !== null ? `e${e}` : ""}`;
    }),
  fc.integer({ min: -1e9, max: 1e9 }).map(String),
);

describe("fast JSON infer bodies", () => {
  test("FP32/FP64 data equals JSON.parse + conversion bit for bit (flat and nested)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("FP32", "FP64"),
        fc.integer({ min: 1, max: 4 }),
        fc.array(decimalText, { minLength: 1, maxLength: 12 }),
        fc.boolean(),
        fc.constantFrom("", " ", "\n  "),
        (dt, rows, row, nested, ws) => {
          const cols = row.length;
          const all = Array.from({ length: rows }, () => row);
          const dataText = nested
            ? `[${ws}${all.map((r) => `[${r.join(`,${ws}`)}]`).join(`,${ws}`)}${ws}]`
            : `[${ws}${all.flat().join(`${ws},`)}${ws}]`;
          assertSame(body(dt, [rows, cols], dataText));
        },
      ),
      { numRuns: 400 },
    );
  });

  test("numbers near float32 rounding boundaries take the exact route", () => {
    // 1 + 2^-24 is the midpoint between 1 and the next float32; digits around it must round like JSON.parse.
    for (const t of [
      "1.000000059604644775390625",
      "1.0000000596046447753906249",
      "1.0000000596046447753906251",
      "1.00000005960464477539062500000001",
      "16777217",
      "3.4028235677973366e38",
      "3.4028235677973367e38",
      "1e39",
      "-1e-50",
      "1.401298464324817e-45",
      "7.006492321624085e-46",
      "-0",
      "0.0",
      "-0.0e0",
      "123456789012345678901234567890",
    ]) {
      assertSame(body("FP32", [1], `[${t}]`));
      assertSame(body("FP64", [1], `[${t}]`));
    }
  });

  test("anything unusual is left to the generic path, with its messages", () => {
    const cases: Array<[string, number[], string]> = [
      ["FP32", [2], "[01, 2]"],
      ["FP32", [2], "[1., 2]"],
      ["FP32", [2], "[.5, 2]"],
      ["FP32", [2], "[+1, 2]"],
      ["FP32", [2], "[1e, 2]"],
      ["FP32", [2], "[-, 2]"],
      ["FP32", [2], "[1,,2]"],
      ["FP32", [2], "[1 2]"],
      ["FP32", [2], "[1, 2,]"],
      ["FP32", [3], "[1, 2]"],
      ["FP32", [2, 2], "[[1, 2], [3]]"],
      ["FP32", [2, 2], "[[1, 2, 3, 4], []]"],
      ["FP32", [2, 2], "[[1, 2], [3, 4], [5, 6]]"],
      ["FP32", [2, 2], "[[[1, 2]], [3, 4]]"],
      ["FP32", [1, 2, 2], "[[1, 2], [3, 4]]"],
      ["FP32", [2], '[1, "NaN"]'],
      ["FP32", [2], "[1, true]"],
      ["FP32", [2], "[1, null]"],
      ["FP32", [0], "[]"],
      ["FP32", [1e9, 1e9], "[1, 2]"],
      ["FP64", [9007199254740991, 9007199254740991], "[[1], [2]]"],
      ["INT32", [2], "[1, 2]"],
      ["FP16", [2], "[1, 2]"],
    ];
    for (const [dt, shape, data] of cases) assertSame(body(dt, shape, data), false);
    // Truncated and malformed documents.
    assertSame('{"inputs":[{"name":"x","datatype":"FP32","shape":[2],"data":[1,2]}', false);
    assertSame('{"inputs":[{"name":"x","datatype":"FP32","shape":[2],"data":[1,2', false);
  });

  test("only inputs[i].data is read fast; strings, parameters and duplicate keys behave like JSON.parse", () => {
    assertSame(
      '{"inputs":[{"name":"x\\"data\\":[","datatype":"FP32","shape":[2],"parameters":{"data":[9]},"data":[1,2]}]}',
    );
    assertSame('{"inputs":[{"name":"x","datatype":"FP32","shape":[2],"data":[1,2],"data":[3,4]}]}');
    assertSame(
      '{"inputs":[{"name":"a","datatype":"FP32","shape":[1],"data":[1]},{"name":"b","datatype":"FP64","shape":[2],"data":[[2],[3]]}]}',
      false,
    );
    assertSame(
      '{"inputs":[{"name":"a","datatype":"INT64","shape":[1],"data":[1]},{"name":"b","datatype":"FP32","shape":[2],"data":[2,3]}]}',
      false,
    );
    assertSame('{"inputs":[],"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]}', false);
    assertSame(
      '{"outputs":[{"name":"y","data":[1]}],"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]}',
    );
    // A later duplicate `data` that is not a number array wins, as in JSON.parse.
    assertSame('{"inputs":[{"name":"x","datatype":"FP32","shape":[2],"data":[1,2],"data":"ab"}]}', false);
    assertSame('{"inputs":[{"name":"x","datatype":"FP32","shape":[2],"data":[1,2],"data":null}]}', false);
  });

  test("data the fast path does not convert is parsed once, as JSON.parse gives it", () => {
    // INT64 ids and an FP32 array in one body: the document is not parsed a second time.
    const text =
      '{"inputs":[{"name":"a","datatype":"INT64","shape":[1,3],"data":[[1,2,9007199254740991]]},{"name":"b","datatype":"FP32","shape":[2],"data":[0.5,1e-3]}]}';
    const fast = fastParseInferJson(Buffer.from(text)) as { inputs: { data: unknown }[] } | null;
    assert.notEqual(fast, null);
    assert.deepEqual(fast!.inputs[0]!.data, [[1, 2, 9007199254740991]]);
    assertSame(text);
    // Arrays that do not fit their shape or datatype keep the generic messages.
    assertSame(body("INT32", [3], "[1, 2]"));
    assertSame(body("FP32", [3], "[1, 2]"));
  });
});
