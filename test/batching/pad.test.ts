import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DynamicBatcher, padSequences } from "../../src/batching/index.ts";
import { bertEncoder } from "../../src/onnx/index.ts";
import { openSession } from "../../src/runtime/index.ts";
import { type Tensor, TesseraError, zeros } from "../../src/tensor/index.ts";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof TesseraError ? e.code : `not a TesseraError: ${String(e)}`;
  }
  return undefined;
}

describe("padSequences", () => {
  const seqs = [Int32Array.of(5, 6, 7), Int32Array.of(8), Int32Array.of(9, 10)];

  test("pads to the longest with a 0/1 mask (int32 in, int32 out)", () => {
    const p = padSequences(seqs, { padId: 0 });
    assert.equal(p.ids.dtype, "int32");
    assert.deepEqual(p.ids.toArray(), [
      [5, 6, 7],
      [8, 0, 0],
      [9, 10, 0],
    ]);
    assert.deepEqual(p.attentionMask.toArray(), [
      [1, 1, 1],
      [1, 0, 0],
      [1, 1, 0],
    ]);
    assert.deepEqual(p.lengths, [3, 1, 2]);
    assert.equal(p.length, 3);
  });

  test("pads to a fixed length or to the smallest fitting bucket; int64 stays int64", () => {
    const big = seqs.map((s) => BigInt64Array.from(s, (v) => BigInt(v)));
    const fixed = padSequences(big, { padId: 1, padTo: 5 });
    assert.equal(fixed.ids.dtype, "int64");
    assert.deepEqual(fixed.ids.shape, [3, 5]);
    assert.deepEqual(fixed.ids.select(0, 1).toArray(), [8n, 1n, 1n, 1n, 1n]);
    assert.deepEqual(fixed.attentionMask.select(0, 2).toArray(), [1n, 1n, 0n, 0n, 0n]);
    assert.equal(padSequences(seqs, { padId: 0, padTo: [16, 4, 8] }).length, 4);
    assert.equal(padSequences([new Int32Array(5)], { padId: 0, padTo: [4, 8, 16] }).length, 8);
  });

  test("too-long sequences throw unless truncate; mixed array types and bad padTo are refused", () => {
    assert.equal(
      codeOf(() => padSequences(seqs, { padId: 0, padTo: 2 })),
      "E_SEQUENCE_TOO_LONG",
    );
    assert.equal(
      codeOf(() => padSequences(seqs, { padId: 0, padTo: [1, 2] })),
      "E_SEQUENCE_TOO_LONG",
    );
    const cut = padSequences(seqs, { padId: 0, padTo: 2, truncate: true });
    assert.deepEqual(cut.ids.select(0, 0).toArray(), [5, 6]);
    assert.deepEqual(cut.lengths, [2, 1, 2]);
    assert.equal(
      codeOf(() => padSequences([Int32Array.of(1), BigInt64Array.of(1n)], { padId: 0 })),
      "E_INPUT_INVALID",
    );
    assert.equal(
      codeOf(() => padSequences(seqs, { padId: 0, padTo: [] })),
      "E_BATCHER_CONFIG",
    );
  });

  test("a padId that is not an integer of the ids' type is refused by name (no RangeError, no silent wrap)", () => {
    for (const padId of [1.5, Number.NaN, 2 ** 31]) {
      assert.equal(
        codeOf(() => padSequences(seqs, { padId })),
        "E_BATCHER_CONFIG",
        String(padId),
      );
    }
    assert.equal(
      codeOf(() => padSequences([BigInt64Array.of(1n, 2n)], { padId: 0.5 })),
      "E_BATCHER_CONFIG",
    );
    assert.throws(
      () => padSequences([BigInt64Array.of(1n)], { padId: 1.5 }),
      /padId must be an integer, got 1.5/,
    );
    const big = padSequences([BigInt64Array.of(1n), BigInt64Array.of(1n, 2n)], { padId: 2 ** 40 });
    assert.deepEqual(big.ids.select(0, 0).toArray(), [1n, 2n ** 40n]);
  });
});

describe("length-sorted batching of variable-length sequences on the zoo BERT encoder", () => {
  test("each sequence's hidden states match running it alone (1e-5); sorted batches pad less than FIFO", async () => {
    const bert = bertEncoder({ seed: 5 });
    const session = await openSession(bert.bytes, { replicas: 1, intraOpThreads: 2, label: "bert-test" });
    try {
      const lengths = [3, 17, 4, 16, 5, 18, 3, 15, 6, 19, 4, 17];
      const seqs = lengths.map((n, i) =>
        BigInt64Array.from({ length: n }, (_, k) => BigInt(2 + ((i * 31 + k * 7) % 900))),
      );
      const padded: number[][] = [];
      const b = new DynamicBatcher<BigInt64Array, Tensor>({
        maxBatchSize: 4,
        maxQueueDelayMs: 20,
        maxQueueSize: 100,
        sortKey: (s) => s.length,
        cost: (s) => s.length,
        batchCost: (items) => Math.max(...items.map((s) => s.length)) * items.length,
        maxBatchCost: 80,
        run: async (items, info) => {
          const p = padSequences(items, { padId: 0 });
          padded.push(items.map((s) => s.length));
          const r = await session.run(
            {
              input_ids: p.ids,
              attention_mask: p.attentionMask,
              token_type_ids: zeros([items.length, p.length], "int64"),
            },
            { signal: info.signal },
          );
          const out = r.outputs.last_hidden_state!;
          return items.map((_, i) => out.select(0, i).narrow(0, 0, p.lengths[i]!)); // views
        },
      });
      const results = await Promise.all(seqs.map((s) => b.submit(s)));
      for (let i = 0; i < seqs.length; i++) {
        const n = seqs[i]!.length;
        const alone = await session.run({
          input_ids: padSequences([seqs[i]!], { padId: 0 }).ids,
          attention_mask: padSequences([seqs[i]!], { padId: 0 }).attentionMask,
          token_type_ids: zeros([1, n], "int64"),
        });
        const want = alone.outputs.last_hidden_state!.select(0, 0).contiguous().data as Float32Array;
        const got = results[i]!.value.contiguous().data as Float32Array;
        assert.equal(got.length, want.length);
        let maxDiff = 0;
        for (let k = 0; k < got.length; k++) maxDiff = Math.max(maxDiff, Math.abs(got[k]! - want[k]!));
        assert.ok(maxDiff <= 1e-5, `sequence ${i}: max |diff| ${maxDiff}`);
      }
      // Length sorting: the oldest sequence goes with its nearest lengths, so padding shrinks versus FIFO chunks.
      assert.deepEqual(
        [...padded[0]!].sort((x, y) => x - y),
        [3, 3, 4, 4],
      );
      const paddedTokens = padded.reduce((s, lens) => s + Math.max(...lens) * lens.length, 0);
      let fifoTokens = 0;
      for (let i = 0; i < lengths.length; i += 4) fifoTokens += Math.max(...lengths.slice(i, i + 4)) * 4;
      assert.ok(paddedTokens < fifoTokens, `sorted ${paddedTokens} padded tokens vs FIFO ${fifoTokens}`);
      for (const lens of padded) assert.ok(Math.max(...lens) * lens.length <= 80);
      await b.close();
    } finally {
      await session.close();
    }
  });
});
