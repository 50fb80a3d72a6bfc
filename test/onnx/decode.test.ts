// decodeModel / readInitializers against a file written by the official onnx Python package
// (fixtures/make_fixtures.py; the facts in python-features.json come from onnx's own API), against zoo
// models, and against bytes that are not ONNX.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";
import {
  bertEncoder,
  DataType,
  decodeModel,
  decodeModelProto,
  encodeModel,
  OnnxError,
  readInitializers,
  slowModel,
  tensorFromProto,
} from "../../src/onnx/index.ts";

const dir = new URL("./fixtures/", import.meta.url);
const pyBytes = new Uint8Array(readFileSync(new URL("python-features.onnx", dir)));
interface Facts {
  ir_version: number;
  opsets: Record<string, number>;
  producer: string;
  model_version: number;
  doc_string: string;
  inputs: string[];
  ops: Record<string, number>;
  initializers: { name: string; data_type: number; dims: number[] }[];
  metadata: Record<string, string>;
  functions: string[];
  values: Record<string, number[]>;
}
const facts = JSON.parse(readFileSync(new URL("python-features.json", dir), "utf8")) as Facts;

describe("decodeModel on a file written by onnx (Python)", () => {
  const info = decodeModel(pyBytes);

  test("header fields, opsets, metadata and functions match onnx's view", () => {
    assert.equal(info.irVersion, facts.ir_version);
    assert.deepEqual(info.opsets, facts.opsets);
    assert.equal(info.producer, facts.producer);
    assert.equal(info.modelVersion, facts.model_version);
    assert.equal(info.docString, facts.doc_string);
    assert.deepEqual(info.metadata, facts.metadata);
    assert.deepEqual(info.functions, facts.functions);
    assert.equal(info.byteSize, pyBytes.byteLength);
  });

  test("inputs exclude initializers and keep symbolic and unknown dims", () => {
    assert.deepEqual(
      info.inputs.map((i) => i.name),
      facts.inputs,
    );
    assert.deepEqual(info.inputs[0], {
      name: "x",
      kind: "tensor",
      elemType: "float32",
      dtype: "float32",
      dims: ["batch", 2],
    });
    assert.deepEqual(info.inputs[1]!.dims, [null]);
    assert.deepEqual(info.outputs[1], {
      name: "names_out",
      kind: "tensor",
      elemType: "string",
      dtype: null,
      dims: [2],
    });
  });

  test("op counts include the If branches", () => {
    const counts = Object.fromEntries(info.ops.map((o) => [`${o.domain}:${o.opType}`, o.count]));
    assert.deepEqual(counts, facts.ops);
    assert.equal(info.ops[0]!.opType, "Neg"); // most frequent first (2, one per branch)
    assert.equal(
      info.nodeCount,
      Object.values(facts.ops).reduce((a, b) => a + b, 0),
    );
  });

  test("initializers: names, element types, dims, sizes and external references", () => {
    assert.deepEqual(
      info.initializers.map((i) => [i.name, i.dims]),
      facts.initializers.map((i) => [i.name, i.dims]),
    );
    const byName = Object.fromEntries(info.initializers.map((i) => [i.name, i]));
    assert.equal(byName.w!.byteSize, 24);
    assert.equal(byName.ids!.byteSize, 24);
    assert.equal(byName.h!.elemType, "float16");
    assert.equal(byName.names!.elemType, "string");
    assert.equal(byName.names!.dtype, null);
    assert.equal(byName.names!.byteSize, "alphabeta".length);
    assert.equal(byName.ext!.external, true);
    assert.deepEqual(info.externalData, [
      { tensor: "ext", location: "weights.bin", offset: 4096, length: 64, checksum: null },
    ]);
  });

  test("readInitializers decodes typed *_data fields and raw_data to tensors", () => {
    const proto = decodeModelProto(pyBytes);
    const inits = new Map(proto.graph!.initializer!.map((t) => [t.name!, t]));
    assert.ok(inits.get("w")!.float_data!.length === 6, "fixture stores w in float_data");
    const t = (name: string) => tensorFromProto(inits.get(name)!);
    assert.deepEqual([...t("w").data], facts.values.w);
    assert.deepEqual(t("w").shape, [2, 3]);
    assert.deepEqual([...t("ids").data], facts.values.ids!.map(BigInt));
    assert.deepEqual([...t("d").data], facts.values.d);
    assert.equal(t("flags").dtype, "bool");
    assert.deepEqual([...t("flags").data], facts.values.flags);
    assert.deepEqual([...t("raw").data], facts.values.raw);
    assert.equal(t("h").dtype, "float16");
    assert.deepEqual([...t("h").data], facts.values.h);
    assert.throws(
      () => t("names"),
      (e: unknown) =>
        e instanceof OnnxError && e.code === "E_ONNX_DECODE" && /string has no Tessera dtype/.test(e.message),
    );
    assert.throws(() => t("ext"), /external file/);
    assert.throws(() => readInitializers(pyBytes), { code: "E_ONNX_DECODE" });
  });
});

describe("decodeModel on zoo models", () => {
  test("bertEncoder: opsets, inputs, parameter count", () => {
    const m = bertEncoder({
      vocabSize: 100,
      hidden: 32,
      layers: 2,
      heads: 4,
      intermediate: 64,
      maxPositions: 16,
    });
    const info = decodeModel(m.bytes);
    assert.deepEqual(info.opsets, { "": 17 });
    assert.deepEqual(
      info.inputs.map((i) => [i.name, i.dtype, i.dims]),
      [
        ["input_ids", "int64", ["batch", "sequence"]],
        ["attention_mask", "int64", ["batch", "sequence"]],
        ["token_type_ids", "int64", ["batch", "sequence"]],
      ],
    );
    assert.deepEqual(info.outputs[0]!.dims, ["batch", "sequence", 32]);
    const expectedParams = Object.values(m.weights).reduce((a, t) => a + t.size, 0);
    assert.equal(info.parameterCount, expectedParams);
    assert.equal(info.initializerBytes, expectedParams * 4);
    const ops = Object.fromEntries(info.ops.map((o) => [o.opType, o.count]));
    assert.equal(ops.LayerNormalization, 1 + 2 * 2);
    assert.equal(ops.Softmax, 2);
    assert.equal(ops.Erf, 2);
    assert.equal(info.metadata["tessera.zoo"], "bert-encoder");
    assert.deepEqual(JSON.parse(info.metadata["tessera.config"]!), { ...m.config });
  });

  test("readInitializers returns the factory's weights bit for bit", () => {
    const m = slowModel({ size: 8, iterations: 3, seed: 11 });
    const inits = readInitializers(m.bytes);
    assert.deepEqual([...inits.keys()].sort(), ["w0", "w_loop"]);
    for (const [name, t] of inits) {
      assert.deepEqual(t.shape, m.weights[name]!.shape);
      assert.deepEqual(t.data, m.weights[name]!.data);
    }
  });

  test("subgraph ops are counted (Loop body)", () => {
    const info = decodeModel(slowModel({ size: 8, iterations: 3 }).bytes);
    assert.equal(info.ops.find((o) => o.opType === "Tanh")?.count, 1);
    assert.equal(info.ops.find((o) => o.opType === "MatMul")?.count, 2);
  });
});

describe("bytes that are not an ONNX model", () => {
  const isDecode = (e: unknown) => e instanceof OnnxError && e.code === "E_ONNX_DECODE";

  test("empty, garbage, JSON and truncated files throw E_ONNX_DECODE", () => {
    assert.throws(() => decodeModel(new Uint8Array(0)), isDecode);
    assert.throws(() => decodeModel(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff])), isDecode);
    assert.throws(() => decodeModel(new TextEncoder().encode('{"not": "onnx"}')), isDecode);
    const bytes = bertEncoder({ vocabSize: 20, hidden: 8, heads: 2, layers: 1, maxPositions: 4 }).bytes;
    for (const cut of [1, 7, Math.floor(bytes.length / 2), bytes.length - 1]) {
      assert.throws(() => decodeModel(bytes.subarray(0, cut)), isDecode, `truncated at ${cut}`);
    }
  });

  test("a valid protobuf without a graph is rejected with the reason", () => {
    const bytes = encodeModel({ ir_version: 8, opset_import: [{ domain: "", version: 17 }] });
    assert.throws(() => decodeModel(bytes), /no graph/);
    assert.throws(
      () => decodeModel(encodeModel({ graph: { name: "g" } })),
      /missing ir_version or opset_import/,
    );
  });

  test("tensorFromProto rejects data whose length disagrees with dims", () => {
    assert.throws(
      () => tensorFromProto({ name: "t", dims: [3], data_type: DataType.FLOAT, raw_data: new Uint8Array(8) }),
      /raw_data has 8 bytes, expected 12/,
    );
    assert.throws(
      () => tensorFromProto({ name: "t", dims: [3], data_type: DataType.FLOAT, float_data: [1] }),
      /has 1 float32 values, expected 3/,
    );
  });
});

// The MiniLM-shaped fixture (90 MB) when it has been built locally (see shared/fixtures/README.md).
const minilm = new URL("../../bench/.fixtures/minilm-shape/onnx/model.onnx", import.meta.url);
test("decodeModel on the 90 MB MiniLM-shaped fixture", {
  skip: !existsSync(minilm) && "bench/.fixtures/minilm-shape not built",
}, () => {
  const bytes = new Uint8Array(readFileSync(minilm));
  const info = decodeModel(bytes);
  assert.equal(info.opsets[""], 14);
  assert.deepEqual(
    info.inputs.map((i) => i.name),
    ["input_ids", "attention_mask", "token_type_ids"],
  );
  assert.equal(info.outputs[0]!.name, "last_hidden_state");
  assert.ok(
    info.parameterCount > 22_000_000 && info.parameterCount < 23_000_000,
    `${info.parameterCount} parameters`,
  );
});
