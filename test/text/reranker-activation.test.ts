/**
 * The cross-encoder activation sentence-transformers' CrossEncoder reads from config.json
 * (`sentence_transformers.activation_fn`, legacy `sbert_ce_default_activation_function`, else Sigmoid for
 * one label), applied by `Reranker` with `returnScores: "model"`; the default stays TEI's sigmoid.
 * Toy cross-encoder (test/text/graphs.ts): logit = masked mean of E[id] + P[pos] + T[type], @ W;
 * float64 references, tolerance 1e-5.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { TesseraError } from "../../src/tensor/index.ts";
import { crossEncoderActivationOf, loadHfFolder, Reranker } from "../../src/text/index.ts";
import { classifierEncoder, classifierFolder, fixtureTokenizer, toyLogits } from "./graphs.ts";

const TJ = fixtureTokenizer("wordpiece");
const ENC = classifierEncoder({ labels: 1, seed: 9, tokenizer: TJ });
const cleanups: (() => void)[] = [];
after(() => {
  for (const c of cleanups) c();
});

function ceFolder(extra: Record<string, unknown>): string {
  const f = classifierFolder({ enc: ENC, tokenizer: TJ, config: { id2label: { "0": "LABEL_0" }, ...extra } });
  cleanups.push(f.cleanup);
  return f.dir;
}

/** float64 logit of (query, doc) over the toy graph. */
function logit(dir: string, query: string, doc: string): number {
  const e = loadHfFolder(dir).tokenizer.encodePair(query, doc);
  return toyLogits(ENC, e.ids, e.typeIds, true)[0] as number;
}

const QUERY = "what is the key type";
const DOCS = [
  "the key type is a string",
  "hello world",
  "a much longer sentence with quite a few more tokens in it",
];
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

async function scores(dir: string, returnScores?: "raw" | "sigmoid" | "model"): Promise<number[]> {
  const rr = await Reranker.load(dir, { session: { replicas: 1, intraOpThreads: 1 } });
  try {
    const hits = await rr.rerank(QUERY, DOCS, returnScores ? { returnScores } : {});
    return DOCS.map((_, i) => hits.find((h) => h.index === i)?.score as number);
  } finally {
    await rr.close();
  }
}

function close(a: readonly number[], b: readonly number[], what: string): void {
  for (let i = 0; i < a.length; i++)
    assert.ok(Math.abs((a[i] as number) - (b[i] as number)) <= 1e-5, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

describe("Reranker: sentence-transformers CrossEncoder activation", () => {
  it("reads activation_fn, the legacy key, and CrossEncoder's default; untrusted paths give the default", () => {
    assert.equal(
      crossEncoderActivationOf(
        { sbert_ce_default_activation_function: "torch.nn.modules.linear.Identity" },
        1,
      ),
      "torch.nn.modules.linear.Identity",
    );
    assert.equal(
      crossEncoderActivationOf(
        {
          sentence_transformers: { activation_fn: "torch.nn.modules.activation.Tanh", version: "4.0.1" },
          sbert_ce_default_activation_function: "torch.nn.modules.linear.Identity",
        },
        1,
      ),
      "torch.nn.modules.activation.Tanh",
    );
    assert.equal(crossEncoderActivationOf({}, 1), "torch.nn.modules.activation.Sigmoid");
    assert.equal(crossEncoderActivationOf({}, 3), "torch.nn.modules.linear.Identity");
    assert.equal(
      crossEncoderActivationOf({ sentence_transformers: { activation_fn: "mypkg.Custom" } }, 1),
      "torch.nn.modules.activation.Sigmoid",
    );
  });

  it('returnScores "model": Identity (ms-marco) gives the logits, Tanh tanh, none sigmoid; the default stays sigmoid (TEI)', async () => {
    const identity = ceFolder({ sbert_ce_default_activation_function: "torch.nn.modules.linear.Identity" });
    const tanh = ceFolder({ sentence_transformers: { activation_fn: "torch.nn.modules.activation.Tanh" } });
    const none = ceFolder({});
    const logits = DOCS.map((d) => logit(identity, QUERY, d));
    assert.ok(
      logits.some((x) => Math.abs(sigmoid(x) - x) > 1e-2),
      "the activations must differ on these logits",
    );
    close(await scores(identity, "model"), logits, "identity");
    close(await scores(identity), logits.map(sigmoid), "default sigmoid");
    close(await scores(identity, "raw"), logits, "raw");
    close(await scores(tanh, "model"), logits.map(Math.tanh), "tanh");
    // the same torch activation table as Dense modules: SiLU too
    const silu = ceFolder({ sentence_transformers: { activation_fn: "torch.nn.modules.activation.SiLU" } });
    close(
      await scores(silu, "model"),
      logits.map((x) => x * sigmoid(x)),
      "silu",
    );
    close(await scores(none, "model"), logits.map(sigmoid), "no activation named: sigmoid");
    const rr = await Reranker.load(identity, { session: { replicas: 1, intraOpThreads: 1 } });
    try {
      assert.equal(rr.activation, "Identity");
    } finally {
      await rr.close();
    }
  });

  it("an activation Tessera cannot apply is refused only when asked for", async () => {
    const gelu = ceFolder({ sentence_transformers: { activation_fn: "torch.nn.modules.activation.GELU" } });
    const rr = await Reranker.load(gelu, { session: { replicas: 1, intraOpThreads: 1 } });
    try {
      assert.equal((await rr.rerank(QUERY, DOCS)).length, DOCS.length);
      await assert.rejects(
        rr.rerank(QUERY, DOCS, { returnScores: "model" }),
        (e: unknown) => e instanceof TesseraError && e.code === "E_TEXT_OPTIONS" && /GELU/.test(e.message),
      );
    } finally {
      await rr.close();
    }
  });
});
