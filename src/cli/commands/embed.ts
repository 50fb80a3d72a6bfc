/** `tessera embed --model DIR "text" ...`: sentence embeddings as JSON lines. */
import { createInterface } from "node:readline";
import { POOLING_EXPECTED, parsePoolingMode } from "../../runtime/index.ts";
import { TextEmbedder } from "../../text/index.ts";
import { EXIT, EXIT_CODES_HELP, type Io, parseFlags, reportError, stdio } from "../args.ts";

export const help = `usage: tessera embed --model DIR [flags] "text" ...
       ... | tessera embed --model DIR [flags]        (JSONL on stdin)

Embeds texts with a Hugging Face model folder (tokenizer.json + onnx/model.onnx, e.g. from
\`tessera pull\`) and prints one JSON line per text: {"index": i, "tokens": n, "embedding": [...]}.
Without text arguments it reads stdin: one JSON object per line with a "text" field (other fields,
like "id", are copied to the output), or a JSON string per line.
  --model DIR          the model folder (required)
  --variant NAME       graph variant: quantized, fp16, int8, q4... → onnx/model_<NAME>.onnx
  --dimensions N       keep the first N dimensions (Matryoshka), renormalized
  --pooling MODE       mean | cls | last | max | weightedmean | mean_sqrt_len_tokens
                       (default: the folder's 1_Pooling config, else mean; last for decoders)
  --no-normalize       skip L2 normalization (default: normalize)
  --prompt-name NAME   prompt from config_sentence_transformers.json (e.g. query)
  --truncate           cut inputs longer than the model's max length instead of failing
  --batch N            texts per call when reading stdin (default 256)

examples:
  tessera embed --model ./models/minilm "hello world" "good morning"
  jq -c '{id, text}' docs.jsonl | tessera embed --model ./models/minilm --truncate > vectors.jsonl

${EXIT_CODES_HELP}`;

export async function run(
  argv: string[],
  io: Io = stdio,
  stdin: NodeJS.ReadableStream = process.stdin,
): Promise<number> {
  const parsed = parseFlags(
    argv,
    {
      model: { type: "string" },
      variant: { type: "string" },
      dimensions: { type: "string" },
      pooling: { type: "string" },
      "no-normalize": { type: "boolean" },
      "prompt-name": { type: "string" },
      truncate: { type: "boolean" },
      batch: { type: "string" },
    },
    help,
    io,
  );
  if (typeof parsed === "number") return parsed;
  const v = parsed.values;
  const issues: string[] = [];
  if (!v.model) issues.push("--model: required");
  const dimensions = v.dimensions === undefined ? undefined : Number(v.dimensions);
  if (dimensions !== undefined && !(Number.isInteger(dimensions) && dimensions > 0))
    issues.push(`--dimensions: expected a positive integer, got ${v.dimensions}`);
  const batch = v.batch === undefined ? 256 : Number(v.batch);
  if (!(Number.isInteger(batch) && batch > 0))
    issues.push(`--batch: expected a positive integer, got ${v.batch}`);
  const pooling = v.pooling === undefined ? undefined : parsePoolingMode(v.pooling);
  if (v.pooling !== undefined && pooling === undefined)
    issues.push(`--pooling: expected ${POOLING_EXPECTED}, got ${v.pooling}`);
  if (issues.length > 0) {
    for (const i of issues) io.err(`error: ${i}`);
    return v.model ? EXIT.CONFIG : EXIT.USAGE;
  }
  let emb: TextEmbedder | undefined;
  try {
    // The pooling goes to load, so a graph with both token states and a pooled output pools here.
    emb = await TextEmbedder.load(v.model as string, {
      ...(v.variant ? { variant: v.variant } : {}),
      ...(pooling !== undefined ? { pooling } : {}),
    });
    const opts = {
      ...(dimensions !== undefined ? { dimensions } : {}),
      normalize: !v["no-normalize"],
      ...(v["prompt-name"] ? { promptName: v["prompt-name"] } : {}),
      truncate: v.truncate === true,
    };
    const write = async (texts: string[], extras: Record<string, unknown>[], offset: number) => {
      const r = await (emb as TextEmbedder).embedDetailed(texts, opts);
      const d = r.embeddings.shape[1] as number;
      const data = r.embeddings.data;
      for (let i = 0; i < texts.length; i++) {
        io.out(
          JSON.stringify({
            ...extras[i],
            index: offset + i,
            tokens: r.tokens[i],
            embedding: Array.from(data.subarray(i * d, (i + 1) * d)),
          }),
        );
      }
    };
    if (parsed.positionals.length > 0) {
      await write(parsed.positionals, [], 0);
      return EXIT.OK;
    }
    let texts: string[] = [];
    let extras: Record<string, unknown>[] = [];
    let offset = 0;
    let lineNo = 0;
    for await (const line of createInterface({ input: stdin, crlfDelay: Number.POSITIVE_INFINITY })) {
      lineNo++;
      if (line.trim() === "") continue;
      let obj: unknown;
      try {
        obj = JSON.parse(line);
      } catch (e) {
        io.err(`error: stdin line ${lineNo}: not JSON (${(e as Error).message})`);
        return EXIT.CONFIG;
      }
      if (typeof obj === "string") {
        texts.push(obj);
        extras.push({});
      } else if (
        typeof obj === "object" &&
        obj !== null &&
        typeof (obj as { text?: unknown }).text === "string"
      ) {
        const { text, ...rest } = obj as { text: string } & Record<string, unknown>;
        texts.push(text);
        extras.push(rest);
      } else {
        io.err(`error: stdin line ${lineNo}: expected a JSON string or an object with a "text" string`);
        return EXIT.CONFIG;
      }
      if (texts.length >= batch) {
        await write(texts, extras, offset);
        offset += texts.length;
        texts = [];
        extras = [];
      }
    }
    if (texts.length > 0) await write(texts, extras, offset);
    return EXIT.OK;
  } catch (e) {
    return reportError(e, io);
  } finally {
    await emb?.close();
  }
}
