// GraphBuilder: validation errors (E_ONNX_BUILD), attribute typing, encode/decode round trips, and models
// with subgraphs and every dtype loaded in a real onnxruntime-node session.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { MessageChannel } from "node:worker_threads";
import * as ort from "onnxruntime-node";
import {
  AttributeType,
  decodeModel,
  decodeModelProto,
  GraphBuilder,
  irVersionForOpset,
  ModelProtoType,
  OnnxError,
  tensorFromProto,
  type AttributeProto,
} from "../../src/onnx/index.ts";
import { type DType, f32ToF16, scalar, Tensor, tensor } from "../../src/tensor/index.ts";

const buildErr = (pattern: RegExp) => (e: unknown) =>
  e instanceof OnnxError && e.code === "E_ONNX_BUILD" && pattern.test(e.message);

const sessions: ort.InferenceSession[] = [];
async function open(bytes: Uint8Array): Promise<ort.InferenceSession> {
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  sessions.push(s);
  return s;
}
after(async () => {
  for (const s of sessions) await s.release();
});

describe("GraphBuilder validation", () => {
  test("a node reading an unknown name fails and names it", () => {
    const g = new GraphBuilder();
    g.input("x", "float32", [2]);
    assert.throws(() => g.node("Add", ["x", "y"], ["z"]), buildErr(/input 1 "y" is not defined/));
    g.node("Add", ["x", "x"], ["z"]); // still usable afterwards
  });

  test("values are assigned once: duplicate input, initializer, node output", () => {
    const g = new GraphBuilder();
    g.input("x", "float32", [2]);
    assert.throws(() => g.input("x", "float32", [2]), buildErr(/"x" is already defined/));
    assert.throws(() => g.initializer("x", tensor([1, 2])), buildErr(/already defined/));
    g.node("Relu", ["x"], ["r"]);
    assert.throws(() => g.node("Neg", ["x"], ["r"]), buildErr(/"r" is already defined/));
  });

  test("outputs: declared twice, or never produced", () => {
    const g = new GraphBuilder();
    g.input("x", "float32", [2]);
    g.output("y", "float32", [2]);
    assert.throws(() => g.output("y", "float32", [2]), buildErr(/declared twice/));
    assert.throws(() => g.toBytes(), buildErr(/output "y" is declared but nothing produces it/));
    g.node("Relu", ["x"], ["y"]);
    assert.ok(g.toBytes().length > 0);
    assert.throws(() => new GraphBuilder().toBytes(), buildErr(/has no outputs/));
  });

  test("dims, dtypes, opsets and domains are checked", () => {
    const g = new GraphBuilder({ opset: 17 });
    for (const bad of [[-1], [1.5], [""], [Number.NaN]]) {
      assert.throws(() => g.input(`x${bad[0]}`, "float32", bad as number[]), buildErr(/dim 0 is/));
    }
    assert.throws(() => g.input("x", "float128" as DType, [1]), buildErr(/unknown dtype "float128"/));
    g.input("x", "float32", [1]);
    assert.throws(
      () => g.node("Gelu", ["x"], ["y"], {}, { domain: "com.microsoft" }),
      buildErr(/domain "com.microsoft" is not imported/),
    );
    assert.throws(() => new GraphBuilder({ opset: 0 }), buildErr(/opset must be a positive integer/));
    assert.throws(
      () => new GraphBuilder({ domainOpsets: { "com.microsoft": 1.5 } }),
      buildErr(/domainOpsets/),
    );
    assert.throws(
      () => g.node("Concat", ["x"], ["c"], { axis: [] }),
      buildErr(/empty list needs an explicit type/),
    );
    assert.throws(
      () => g.node("Foo", ["x"], ["f"], { bad: { not: "an attribute" } as never }),
      buildErr(/attribute bad/),
    );
  });

  test("subgraphs: no shadowing of outer names; metadata and toModel belong to the root", () => {
    const g = new GraphBuilder();
    g.input("x", "float32", [1]);
    const body = g.subgraph("body");
    assert.throws(() => body.input("x", "float32", [1]), buildErr(/already defined/));
    assert.throws(() => body.metadata("k", "v"), buildErr(/only the root graph/));
    assert.throws(() => body.toModel(), buildErr(/is a subgraph/));
    assert.equal(body.has("x"), true, "outer values are visible");
  });
});

describe("GraphBuilder encoding", () => {
  function attrsOf(bytes: Uint8Array, opType: string): Record<string, AttributeProto> {
    const node = decodeModelProto(bytes).graph!.node!.find((n) => n.op_type === opType)!;
    return Object.fromEntries(node.attribute!.map((a) => [a.name!, a]));
  }

  test("attribute types are inferred (wrappers force them) and survive protobuf", () => {
    const g = new GraphBuilder({ domainOpsets: { "com.example": 1 } });
    g.input("x", "float32", [2]);
    g.node(
      "Custom",
      ["x"],
      ["y"],
      {
        axis: -1,
        big: 2n ** 40n,
        flag: true,
        ratio: 0.25,
        epsilon: 1,
        forced: { type: "float", value: 3 },
        perm: [0, 2, 1],
        scales: [1, 2.5],
        empty: { type: "ints", value: [] },
        mode: "constant",
        names: ["a", "bé"],
        value: tensor([1, 2, 3], "int32"),
        skipped: undefined,
      },
      { domain: "com.example", name: "custom" },
    );
    g.output("y", "float32", [2]);
    const a = attrsOf(g.toBytes(), "Custom");
    // onnx.proto AttributeType codes, written out so that a wrong code in schema.ts fails here.
    const T = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7, STRINGS: 8 };
    assert.equal(AttributeType.FLOATS, T.FLOATS);
    const types = Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v.type]));
    assert.deepEqual(types, {
      axis: T.INT,
      big: T.INT,
      flag: T.INT,
      ratio: T.FLOAT,
      epsilon: T.FLOAT,
      forced: T.FLOAT,
      perm: T.INTS,
      scales: T.FLOATS,
      empty: T.INTS,
      mode: T.STRING,
      names: T.STRINGS,
      value: T.TENSOR,
    });
    assert.equal(Number(a.axis!.i), -1);
    assert.equal(BigInt(a.big!.i!.toString()), 2n ** 40n);
    assert.equal(a.epsilon!.f, 1);
    assert.deepEqual(a.perm!.ints!.map(Number), [0, 2, 1]);
    assert.deepEqual(a.scales!.floats, [1, 2.5]);
    assert.equal(new TextDecoder().decode(a.mode!.s), "constant");
    assert.deepEqual(
      a.names!.strings!.map((s) => new TextDecoder().decode(s)),
      ["a", "bé"],
    );
    assert.deepEqual([...tensorFromProto(a.value!.t!).data], [1, 2, 3]);
  });

  test("toModel is a valid ModelProto; model fields survive encode → decode", () => {
    const g = new GraphBuilder({
      name: "rt",
      opset: 19,
      producer: "me",
      producerVersion: "9",
      docString: "doc",
      modelVersion: 4,
    });
    g.input("x", "float32", ["batch", null, 3]);
    g.node("Relu", ["x"], ["y"]);
    g.output("y", "float32", ["batch", null, 3]);
    g.valueInfo("y", "float32", ["batch", null, 3]);
    g.metadata("k", "old").metadata("k", "new").metadata("other", "v");
    assert.equal(ModelProtoType.verify(g.toModel()), null);
    const info = decodeModel(g.toBytes());
    assert.equal(info.irVersion, irVersionForOpset(19));
    assert.equal(info.irVersion, 9);
    assert.equal(info.producer, "me");
    assert.equal(info.producerVersion, "9");
    assert.equal(info.docString, "doc");
    assert.equal(info.modelVersion, 4);
    assert.equal(info.graphName, "rt");
    assert.deepEqual(info.metadata, { k: "new", other: "v" });
    assert.deepEqual(info.inputs[0]!.dims, ["batch", null, 3]);
  });

  test("generated names are unique; node(…, n) makes n outputs; constant() makes a Constant node", () => {
    const g = new GraphBuilder();
    g.input("x", "float32", [4]);
    const [a, b] = g.node("Split", ["x"], 2, { axis: 0, num_outputs: 2 }, {});
    assert.notEqual(a, b);
    const c = g.constant(scalar(2));
    const d = g.constant(scalar(3));
    assert.notEqual(c, d);
    const sum = g.op("Add", [a!, b!]);
    assert.match(sum, /^Add_\d+$/);
    assert.equal(g.op("Mul", [sum, c], {}, { output: "out" }), "out");
  });
});

describe("GraphBuilder models in onnxruntime-node", () => {
  const cases: { dtype: DType; values: Tensor }[] = [
    { dtype: "float32", values: tensor([1.5, -2, 3e-8], "float32") },
    { dtype: "float64", values: tensor([Math.PI, -1e300, 5e-324], "float64") },
    {
      dtype: "float16",
      values: Tensor.wrap(Uint16Array.from([1, -0.5, 65504].map(f32ToF16)), [3], "float16"),
    },
    { dtype: "int8", values: tensor([-128, 0, 127], "int8") },
    { dtype: "uint8", values: tensor([0, 200, 255], "uint8") },
    { dtype: "int16", values: tensor([-32768, 1, 32767], "int16") },
    { dtype: "int32", values: tensor([-(2 ** 31), 7, 2 ** 31 - 1], "int32") },
    { dtype: "int64", values: tensor([-(2n ** 63n), 2n ** 53n + 1n, 2n ** 63n - 1n], "int64") },
    { dtype: "bool", values: tensor([true, false, true], "bool") },
  ];

  test("initializers of every dtype reach ORT bit for bit (raw_data little-endian)", async () => {
    const g = new GraphBuilder();
    for (const c of cases) {
      g.initializer(`w_${c.dtype}`, c.values);
      g.node("Identity", [`w_${c.dtype}`], [`out_${c.dtype}`]);
      g.output(`out_${c.dtype}`, c.dtype, [3]);
    }
    const s = await open(g.toBytes());
    const out = await s.run({});
    for (const c of cases) {
      const got = out[`out_${c.dtype}`]!;
      assert.equal(
        got.type,
        c.dtype === "float32" ? "float32" : c.dtype === "float64" ? "float64" : c.dtype,
        c.dtype,
      );
      assert.deepEqual(
        [...(got.data as ArrayLike<unknown> & Iterable<unknown>)],
        [...(c.values.data as Iterable<unknown>)],
        c.dtype,
      );
    }
  });

  test("a non-contiguous tensor is written in logical order", async () => {
    const t = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]).transpose(); // [3,2] view with strides [1,3]
    const g = new GraphBuilder();
    g.initializer("w", t);
    g.node("Identity", ["w"], ["y"]);
    g.output("y", "float32", [3, 2]);
    const out = await (await open(g.toBytes())).run({});
    assert.deepEqual([...(out.y!.data as Float32Array)], [1, 4, 2, 5, 3, 6]);
  });

  test("If with then/else subgraphs that read an outer input", async () => {
    const g = new GraphBuilder();
    g.input("x", "float32", ["n"]);
    g.input("c", "bool", []);
    const then = g.subgraph("then");
    then.node("Neg", ["x"], ["t_out"]);
    then.output("t_out", "float32", ["n"]);
    const otherwise = g.subgraph("else");
    otherwise.node("Mul", ["x", otherwise.constant(scalar(10))], ["e_out"]);
    otherwise.output("e_out", "float32", ["n"]);
    g.node("If", ["c"], ["y"], { then_branch: then, else_branch: otherwise });
    g.output("y", "float32", ["n"]);
    const bytes = g.toBytes();
    assert.deepEqual(
      decodeModel(bytes)
        .ops.map((o) => o.opType)
        .sort(),
      ["Constant", "If", "Mul", "Neg"],
    );
    const s = await open(bytes);
    const x = new ort.Tensor("float32", Float32Array.from([1, -2]), [2]);
    const yes = await s.run({ x, c: new ort.Tensor("bool", Uint8Array.from([1]), []) });
    const no = await s.run({ x, c: new ort.Tensor("bool", Uint8Array.from([0]), []) });
    assert.deepEqual([...(yes.y!.data as Float32Array)], [-1, 2]);
    assert.deepEqual([...(no.y!.data as Float32Array)], [10, -20]);
  });

  test("float attributes forced by wrapper change the result (LeakyRelu alpha=1 vs default)", async () => {
    const g = new GraphBuilder();
    g.input("x", "float32", [2]);
    g.node("LeakyRelu", ["x"], ["a"], { alpha: { type: "float", value: 2 } });
    g.node("Elu", ["x"], ["b"], { alpha: 1 }); // float by name
    g.output("a", "float32", [2]);
    g.output("b", "float32", [2]);
    const out = await (await open(g.toBytes())).run({
      x: new ort.Tensor("float32", Float32Array.from([-1, 3]), [2]),
    });
    assert.deepEqual([...(out.a!.data as Float32Array)], [-2, 3]);
    assert.ok(Math.abs((out.b!.data as Float32Array)[0]! - (Math.exp(-1) - 1)) < 1e-6);
  });
});

test("toBytes returns a plain Uint8Array owning its ArrayBuffer (safe to transfer), even for tiny models", () => {
  const g = new GraphBuilder();
  g.input("x", "float32", [1]);
  g.node("Relu", ["x"], ["y"]);
  g.output("y", "float32", [1]);
  const bytes = g.toBytes();
  assert.equal(Object.getPrototypeOf(bytes), Uint8Array.prototype);
  assert.equal(bytes.byteOffset, 0);
  assert.equal(bytes.buffer.byteLength, bytes.byteLength);
  const { port1, port2 } = new MessageChannel();
  port1.postMessage(bytes, [bytes.buffer as ArrayBuffer]); // would detach Node's Buffer pool if pooled
  assert.equal(bytes.byteLength, 0);
  port1.close();
  port2.close();
  const again = g.toBytes();
  assert.ok(again.byteLength > 0);
  assert.equal(decodeModel(again).inputs[0]!.name, "x");
});
