// Tessera vs PyTorch on the MiniLM-shaped encoder of ../shared/fixtures (all-MiniLM-L6-v2's exact shape,
// seeded weights, real WordPiece tokenizer). make_fixture.py records, for 6 sentences, torch's token ids,
// mean-pooled L2-normalised embeddings and the first 8 values of last_hidden_state per token: the source
// of truth here. .ci/run builds the fixture (python3-torch, python3-onnx from Debian); without it this
// file skips with the reason.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { openSession } from "../../src/runtime/index.ts";
import { Tensor } from "../../src/tensor/index.ts";
import { TextEmbedder } from "../../src/text/index.ts";

const DIR = join(import.meta.dirname, "../../bench/.fixtures/minilm-shape");
const GENERATOR = join(import.meta.dirname, "../../../shared/fixtures/make_fixture.py");
const built = existsSync(join(DIR, "reference.json"));
// In CI, .ci/run builds the fixture whenever the generator is there: a missing fixture is then a failure,
// not a skip. Elsewhere (no torch, no shared folder) the comparison skips with the reason.
const required = process.env.CI === "true" && existsSync(GENERATOR);
const skip =
  built || required
    ? false
    : "fixture not built: run /usr/bin/python3 ../shared/fixtures/make_fixture.py --out bench/.fixtures/minilm-shape";

test("the MiniLM-shaped fixture is built wherever CI can build it", { skip: !required }, () => {
  assert.ok(built, `CI has ${GENERATOR} but ${DIR} was not built: see the fixtures step of .ci/run`);
});

interface Reference {
  sentences: string[];
  input_ids: number[][];
  embeddings: number[][];
  last_hidden_state_first8: number[][][];
}

describe("minilm-shape fixture vs the torch reference", { skip }, () => {
  let ref: Reference;
  let embedder: TextEmbedder;
  before(async () => {
    ref = JSON.parse(readFileSync(join(DIR, "reference.json"), "utf8")) as Reference;
    embedder = await TextEmbedder.load(DIR, { session: { replicas: 1 } });
  });
  after(async () => {
    await embedder?.close();
  });

  test("tokenizer ids equal torch's input ids", () => {
    ref.sentences.forEach((s, i) => {
      assert.deepEqual(embedder.tokenizer.encode(s).ids, ref.input_ids[i], `sentence ${i}`);
    });
  });

  test("mean-pooled normalised embeddings equal torch's within 1e-5 (batched and one at a time)", async () => {
    const batched = await embedder.embed(ref.sentences, { normalize: true });
    assert.deepEqual(batched.shape, [ref.sentences.length, 384]);
    for (let i = 0; i < ref.sentences.length; i++) {
      const single = await embedder.embed([ref.sentences[i]!], { normalize: true });
      for (let j = 0; j < 384; j++) {
        const want = ref.embeddings[i]![j]!;
        assert.ok(Math.abs((batched.get(i, j) as number) - want) < 1e-5, `batched [${i},${j}]`);
        assert.ok(Math.abs((single.get(0, j) as number) - want) < 1e-5, `single [${i},${j}]`);
      }
    }
  });

  test("a folder without modules.json embeds with mean pooling and unit norm by default", async () => {
    const out = await embedder.embed(ref.sentences);
    for (let i = 0; i < ref.sentences.length; i++)
      for (let j = 0; j < 384; j++)
        assert.ok(Math.abs((out.get(i, j) as number) - ref.embeddings[i]![j]!) < 1e-5, `[${i},${j}]`);
  });

  test("raw last_hidden_state through a worker session equals torch's within 1e-4", async () => {
    const session = await openSession(join(DIR, "onnx/model.onnx"), { replicas: 1 });
    try {
      for (let i = 0; i < ref.sentences.length; i++) {
        const ids = ref.input_ids[i]!;
        const n = ids.length;
        const input_ids = Tensor.wrap(BigInt64Array.from(ids, BigInt), [1, n]);
        const attention_mask = Tensor.wrap(new BigInt64Array(n).fill(1n), [1, n]);
        const token_type_ids = Tensor.wrap(new BigInt64Array(n), [1, n]);
        const { outputs } = await session.run({ input_ids, attention_mask, token_type_ids });
        const h = outputs.last_hidden_state!;
        ref.last_hidden_state_first8[i]!.forEach((row, t) => {
          row.forEach((want, k) => {
            assert.ok(
              Math.abs((h.get(0, t, k) as number) - want) < 1e-4,
              `sentence ${i} token ${t} dim ${k}`,
            );
          });
        });
      }
    } finally {
      await session.close();
    }
  });
});
