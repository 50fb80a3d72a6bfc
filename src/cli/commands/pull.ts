/** `tessera pull ORG/NAME`: download a text model folder from a Hugging Face-hub-style server. */
import { pullModel } from "../../text/index.ts";
import { EXIT, EXIT_CODES_HELP, type Io, parseFlags, reportError, stdio } from "../args.ts";

export const help = `usage: tessera pull ORG/NAME [--revision main] [--endpoint URL] [--cache DIR] [--variant quantized] [--refresh]

Downloads only the files a text model needs (config.json, tokenizer files, sentence-transformers
pooling config, one ONNX graph) from a Hugging Face-hub-style server into a cache folder, and prints
the folder. Downloads resume after an interruption (Range requests into .part files) and are
verified (size, and sha256 for LFS files). When the cache already holds the model, no network call
is made (use --refresh to re-check).
  --revision REV    branch, tag or commit (default main)
  --endpoint URL    hub server (default $HF_ENDPOINT or https://huggingface.co)
  --cache DIR       cache root (default $TESSERA_CACHE or ~/.cache/tessera/models)
  --variant NAME    graph variant, e.g. quantized → onnx/model_quantized.onnx
  --retries N       retries per file after a cut transfer (default 3)
  --refresh         contact the server even when the cache is complete
  --quiet           print only the folder
Environment: HF_TOKEN is sent as a Bearer token.

examples:
  tessera pull sentence-transformers/all-MiniLM-L6-v2
  tessera embed --model "$(tessera pull BAAI/bge-small-en-v1.5 --quiet)" "hello world"

${EXIT_CODES_HELP}`;

export async function run(argv: string[], io: Io = stdio): Promise<number> {
  const parsed = parseFlags(
    argv,
    {
      revision: { type: "string" },
      endpoint: { type: "string" },
      cache: { type: "string" },
      variant: { type: "string" },
      retries: { type: "string" },
      refresh: { type: "boolean" },
      quiet: { type: "boolean" },
    },
    help,
    io,
  );
  if (typeof parsed === "number") return parsed;
  const [repo, ...extra] = parsed.positionals;
  if (!repo || extra.length > 0) {
    io.err(`error: expected exactly one ORG/NAME argument\n\n${help.split("\n")[0]}`);
    return EXIT.USAGE;
  }
  const v = parsed.values;
  const retries = v.retries === undefined ? undefined : Number(v.retries);
  if (retries !== undefined && !(Number.isInteger(retries) && retries >= 0)) {
    io.err(`error: --retries must be a non-negative integer, got ${JSON.stringify(v.retries)}`);
    return EXIT.CONFIG;
  }
  try {
    const r = await pullModel({
      repo,
      ...(v.revision ? { revision: v.revision } : {}),
      ...(v.endpoint ? { endpoint: v.endpoint } : {}),
      ...(v.cache ? { cacheDir: v.cache } : {}),
      ...(v.variant ? { variant: v.variant } : {}),
      ...(retries !== undefined ? { retries } : {}),
      ...(v.refresh ? { refresh: true } : {}),
      ...(v.quiet
        ? {}
        : {
            onProgress: (e) => {
              if (e.type === "done") io.err(`  ${e.path} (${e.bytes} bytes)`);
              else if (e.type === "retry") io.err(`  retrying ${e.path} (attempt ${e.attempt}): ${e.reason}`);
            },
          }),
    });
    if (!v.quiet)
      io.err(r.offline ? `${repo}: complete in the cache (no network)` : `${repo}: ${r.files.length} files`);
    io.out(r.dir);
    return EXIT.OK;
  } catch (e) {
    return reportError(e, io);
  }
}
