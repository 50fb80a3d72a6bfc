/**
 * Tokenizer adapter over @huggingface/tokenizers (pure JS).
 *
 * The library turns text into content tokens (normalizer → pre-tokenizer → model) and we use it
 * only for that: `encode(text, { add_special_tokens: false })`. Everything after it is ours:
 *   1. truncation (right or left) of the CONTENT tokens to `maxLength - specials`, so the final
 *      [SEP] / </s> is always kept (transformers.js truncates after adding specials and drops it);
 *   2. the post-processor template ([CLS] A [SEP], <s> A </s></s> B </s>, ...) with type ids,
 *      read from tokenizer.json (TemplateProcessing, BertProcessing, RobertaProcessing, Sequence);
 *   3. pairs with "longest first" truncation, batch encoding, padding into int64 tensors,
 *      token counts.
 *
 * What the library gets wrong or lacks, and what we do about it:
 *   - no truncation at all, and transformers.js truncates after adding specials (drops [SEP]):
 *     we truncate content tokens, then apply the template;
 *   - no offsets: recovered by alignment in offsets.ts;
 *   - the `Precompiled` normalizer (XLM-R, multilingual-e5, bge-m3) ignores its charsmap and
 *     approximates it with NFKC: we decode the charsmap (precompiled.ts) and install its exact
 *     SentencePiece normalization on the library's normalizer instance;
 *   - Metaspace files written before tokenizers 0.19 say `add_prefix_space` instead of
 *     `prepend_scheme`; `upgradeLegacy` translates them;
 *   - Metaspace ignores `split: true` (the whole text goes to the Unigram lattice at once); with
 *     SentencePiece vocabularies, whose pieces only carry "▁" at their start, the ids are the same
 *     (checked by the Unigram goldens);
 *   - Metaspace `prepend_scheme: "always"` adds no "▁" to text that already starts with a space, as
 *     in Hugging Face `tokenizers` (Rust); SentencePiece always adds one (a known divergence listed
 *     in test/text/tokenizer.test.ts).
 */
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { TesseraError } from "../tensor/index.ts";
import { alignOffsets, type ByteSpan } from "./offsets.ts";
import { PrecompiledCharsmap } from "./precompiled.ts";

/** One element of a post-processing template. */
export type TemplatePiece =
  | { readonly kind: "special"; readonly ids: readonly number[]; readonly typeId: number }
  | { readonly kind: "sequence"; readonly which: "A" | "B"; readonly typeId: number };

export interface PostTemplate {
  readonly single: readonly TemplatePiece[];
  readonly pair: readonly TemplatePiece[];
}

export type TruncationDirection = "right" | "left";

export interface EncodeOptions {
  /** Add [CLS]/[SEP]-style special tokens from the post-processor. Default true. */
  readonly addSpecialTokens?: boolean;
  /** Longest allowed encoding including special tokens. Default: the tokenizer's `maxLength`. */
  readonly maxLength?: number;
  /**
   * true: cut to `maxLength` (special tokens kept). false (default): throw `E_TEXT_TOO_LONG`
   * when the encoding is longer than `maxLength`.
   */
  readonly truncate?: boolean;
  /** Which end loses tokens when truncating. Default "right". */
  readonly truncationDirection?: TruncationDirection;
  /**
   * Pairs only: "longest_first" (default, as transformers' fast `truncation=True`) cuts only the
   * longer side when that suffices, else both to half the budget (the longer keeps the odd token),
   * as Rust `tokenizers`; "second_first" cuts the second text (the document of a
   * rerank pair) first and the first text only when the second is empty.
   */
  readonly pairStrategy?: "longest_first" | "second_first";
}

/** The encoding of one input (or one pair). */
export interface TextEncoding {
  readonly ids: readonly number[];
  readonly typeIds: readonly number[];
  /** Tokens the input had before truncation (special tokens included). */
  readonly fullLength: number;
  readonly truncated: boolean;
}

/** Padded batch ready for a BERT-like graph: int64 `[n, seqLen]` arrays, row-major. */
export interface PaddedBatch {
  readonly n: number;
  readonly seqLen: number;
  readonly inputIds: BigInt64Array;
  readonly attentionMask: BigInt64Array;
  readonly tokenTypeIds: BigInt64Array;
  /** Real token count of each row. */
  readonly lengths: Int32Array;
}

export interface TokenizerSettings {
  /** tokenizer_config.json content (model_max_length, pad_token, ...). */
  readonly tokenizerConfig?: Readonly<Record<string, unknown>>;
  /** special_tokens_map.json content. */
  readonly specialTokensMap?: Readonly<Record<string, unknown>>;
  /** Override the max length (e.g. sentence_bert_config.json max_seq_length). */
  readonly maxLength?: number;
  /**
   * Lowercase every text before tokenizing (sentence_bert_config.json `do_lower_case: true`, which
   * sentence-transformers applies to the text, prompt included, before its tokenizer). Default false.
   */
  readonly lowercase?: boolean;
}

/** A token with its text, for /tokenize-style output. */
export interface TokenInfo {
  readonly id: number;
  readonly text: string;
  readonly special: boolean;
}

const DEFAULT_MAX_LENGTH = 512;

type Json = Readonly<Record<string, unknown>>;

/** A high surrogate not followed by a low one, or a low surrogate not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function isObj(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function configError(message: string, facts: Record<string, unknown> = {}): TesseraError {
  return new TesseraError("E_TOKENIZER_CONFIG", `tokenizer.json: ${message}`, facts);
}

function tokenName(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (isObj(v) && typeof v.content === "string") return v.content;
  return undefined;
}

/** Reads the post-processor of a tokenizer.json into a template (null processor → no specials). */
export function parsePostProcessor(
  pp: unknown,
  vocabId: (token: string) => number | undefined,
): PostTemplate {
  if (pp === null || pp === undefined)
    return { single: [{ kind: "sequence", which: "A", typeId: 0 }], pair: seqPair() };
  if (!isObj(pp)) throw configError("post_processor must be an object or null");
  const type = pp.type;
  const pairTok = (v: unknown, field: string): number[] => {
    if (Array.isArray(v) && typeof v[1] === "number") return [v[1]];
    if (Array.isArray(v) && typeof v[0] === "string") {
      const id = vocabId(v[0]);
      if (id !== undefined) return [id];
    }
    throw configError(`post_processor.${field} must be [token, id]`, { field });
  };
  if (type === "BertProcessing") {
    const cls = pairTok(pp.cls, "cls");
    const sep = pairTok(pp.sep, "sep");
    return {
      single: [sp(cls, 0), sq("A", 0), sp(sep, 0)],
      pair: [sp(cls, 0), sq("A", 0), sp(sep, 0), sq("B", 1), sp(sep, 1)],
    };
  }
  if (type === "RobertaProcessing") {
    const cls = pairTok(pp.cls, "cls");
    const sep = pairTok(pp.sep, "sep");
    return {
      single: [sp(cls, 0), sq("A", 0), sp(sep, 0)],
      pair: [sp(cls, 0), sq("A", 0), sp(sep, 0), sp(sep, 0), sq("B", 0), sp(sep, 0)],
    };
  }
  if (type === "TemplateProcessing") {
    const specials = isObj(pp.special_tokens) ? pp.special_tokens : {};
    const conv = (list: unknown, field: string): TemplatePiece[] => {
      if (!Array.isArray(list)) throw configError(`post_processor.${field} must be a list`, { field });
      return list.map((p: unknown, i: number): TemplatePiece => {
        if (isObj(p) && isObj(p.SpecialToken)) {
          const name = String(p.SpecialToken.id);
          const entry = specials[name];
          let ids: number[] | undefined;
          if (isObj(entry) && Array.isArray(entry.ids)) ids = entry.ids.map(Number);
          else {
            const id = vocabId(name);
            if (id !== undefined) ids = [id];
          }
          if (!ids)
            throw configError(`post_processor.${field}[${i}]: unknown special token ${name}`, {
              field,
              token: name,
            });
          return sp(ids, Number(p.SpecialToken.type_id ?? 0));
        }
        if (isObj(p) && isObj(p.Sequence)) {
          return sq(p.Sequence.id === "B" ? "B" : "A", Number(p.Sequence.type_id ?? 0));
        }
        throw configError(`post_processor.${field}[${i}] is neither SpecialToken nor Sequence`, {
          field,
          index: i,
        });
      });
    };
    const single = conv(pp.single, "single");
    const pair = pp.pair === undefined || pp.pair === null ? [...single, sq("B", 1)] : conv(pp.pair, "pair");
    return { single, pair };
  }
  if (type === "Sequence") {
    const list = Array.isArray(pp.processors) ? pp.processors : [];
    // ByteLevel only trims offsets; the template-like processor decides the ids.
    const tpl = list.find((p: unknown) => isObj(p) && p.type !== "ByteLevel");
    return parsePostProcessor(tpl ?? null, vocabId);
  }
  if (type === "ByteLevel") return parsePostProcessor(null, vocabId);
  throw configError(`unsupported post_processor type ${String(type)}`, { type: String(type) });
}

/**
 * tokenizer_config `tokenizer_class` values whose transformers fast tokenizer rebuilds the
 * post-processor from `add_bos_token` (default true) / `add_eos_token` (default false) when it
 * loads (LlamaTokenizerFast.update_post_processor, copied by CodeLlama and Gemma), whatever
 * tokenizer.json's template says: e.g. an `add_eos_token: true` Mistral/Gemma embedder appends
 * `</s>` / `<eos>` that its tokenizer.json template lacks.
 */
const REBUILT_TEMPLATE_CLASSES = /^(Llama|CodeLlama|Gemma)Tokenizer(Fast)?$/;

/**
 * The template from tokenizer_config's `add_bos_token` / `add_eos_token`: always for the classes
 * above (as transformers rebuilds it), else only when the post-processor adds no special token
 * (null or ByteLevel only, as in many Llama / Mistral / Qwen exports) and a flag is true.
 */
function withConfigSpecials(
  tpl: PostTemplate,
  cfg: Readonly<Record<string, unknown>>,
  vocabId: (token: string) => number | undefined,
  specialTokensMap: Readonly<Record<string, unknown>> = {},
): PostTemplate {
  const rebuilds =
    typeof cfg.tokenizer_class === "string" && REBUILT_TEMPLATE_CLASSES.test(cfg.tokenizer_class);
  if (!rebuilds && countSpecials(tpl.single) > 0) return tpl;
  const nameOf = (key: "bos_token" | "eos_token") => tokenName(cfg[key]) ?? tokenName(specialTokensMap[key]);
  const addBos = rebuilds ? cfg.add_bos_token !== false : cfg.add_bos_token === true;
  const addEos = cfg.add_eos_token === true;
  const bosName = addBos ? nameOf("bos_token") : undefined;
  const eosName = addEos ? nameOf("eos_token") : undefined;
  const bos = bosName !== undefined ? vocabId(bosName) : undefined;
  const eos = eosName !== undefined ? vocabId(eosName) : undefined;
  // A flag whose token cannot be resolved: keep tokenizer.json's template (transformers would refuse to load).
  if (rebuilds && ((addBos && bos === undefined) || (addEos && eos === undefined))) return tpl;
  if (!rebuilds && bos === undefined && eos === undefined) return tpl;
  const wrap = (which: "A" | "B", typeId: number): TemplatePiece[] => [
    ...(bos !== undefined ? [sp([bos], typeId)] : []),
    sq(which, typeId),
    ...(eos !== undefined ? [sp([eos], typeId)] : []),
  ];
  return { single: wrap("A", 0), pair: [...wrap("A", 0), ...wrap("B", 1)] };
}

function sp(ids: readonly number[], typeId: number): TemplatePiece {
  return { kind: "special", ids, typeId };
}
function sq(which: "A" | "B", typeId: number): TemplatePiece {
  return { kind: "sequence", which, typeId };
}
function seqPair(): TemplatePiece[] {
  return [sq("A", 0), sq("B", 1)];
}

function countSpecials(tpl: readonly TemplatePiece[]): number {
  let n = 0;
  for (const p of tpl) if (p.kind === "special") n += p.ids.length;
  return n;
}

/**
 * A text tokenizer loaded from tokenizer.json. Stateless after construction; safe to share.
 *
 * @example
 * const tok = TextTokenizer.fromJSON(JSON.parse(fs.readFileSync("tokenizer.json", "utf8")));
 * tok.encode("Hello world").ids; // [101, 7592, 2088, 102]
 */
export class TextTokenizer {
  readonly template: PostTemplate;
  /** Longest encoding the model accepts (special tokens included). */
  readonly maxLength: number;
  readonly padId: number;
  /**
   * Where padding goes in a batch: tokenizer_config `padding_side` (or tokenizer.json
   * `padding.direction`); "left" for decoder-style embedders (Qwen3-Embedding). Default "right".
   */
  readonly paddingSide: "left" | "right";
  readonly vocabSize: number;
  /** Ids of special tokens (added tokens flagged special, and template specials). */
  readonly specialIds: ReadonlySet<number>;
  readonly modelType: string;
  readonly #hf: HfTokenizer;
  readonly #lowercase: boolean;
  readonly #singleSpecials: number;
  readonly #pairSpecials: number;
  readonly #offsetMode: "bytes" | "chars";
  readonly #spaceOnly: boolean;
  readonly #continuingPrefix: string;
  readonly #unkId: number | undefined;
  readonly #addedTokens: ReadonlySet<string>;

  private constructor(hf: HfTokenizer, json: Json, settings: TokenizerSettings) {
    this.#hf = hf;
    this.modelType = isObj(json.model) && typeof json.model.type === "string" ? json.model.type : "unknown";
    const cfg = settings.tokenizerConfig ?? {};
    this.template = withConfigSpecials(
      parsePostProcessor(json.post_processor, (t) => hf.token_to_id(t)),
      cfg,
      (t) => hf.token_to_id(t),
      settings.specialTokensMap ?? {},
    );
    this.#singleSpecials = countSpecials(this.template.single);
    this.#pairSpecials = countSpecials(this.template.pair);
    const cfgMax =
      typeof cfg.model_max_length === "number" && cfg.model_max_length < 1e9
        ? cfg.model_max_length
        : undefined;
    const trunc =
      isObj(json.truncation) && typeof json.truncation.max_length === "number"
        ? json.truncation.max_length
        : undefined;
    this.maxLength = settings.maxLength ?? cfgMax ?? trunc ?? DEFAULT_MAX_LENGTH;
    this.#lowercase = settings.lowercase === true;
    const special = new Set<number>();
    if (Array.isArray(json.added_tokens)) {
      for (const t of json.added_tokens)
        if (isObj(t) && t.special === true && typeof t.id === "number") special.add(t.id);
    }
    for (const p of [...this.template.single, ...this.template.pair])
      if (p.kind === "special") for (const id of p.ids) special.add(id);
    this.specialIds = special;
    let pad: number | undefined;
    if (isObj(json.padding) && typeof json.padding.pad_id === "number") pad = json.padding.pad_id;
    const padName = tokenName(cfg.pad_token) ?? tokenName(settings.specialTokensMap?.pad_token);
    if (pad === undefined && padName !== undefined) pad = hf.token_to_id(padName);
    // No pad token (many decoder models): pad with eos (masked out anyway), else 0.
    const eosName = tokenName(cfg.eos_token) ?? tokenName(settings.specialTokensMap?.eos_token);
    if (pad === undefined && eosName !== undefined) pad = hf.token_to_id(eosName);
    this.padId = pad ?? 0;
    const dir =
      typeof cfg.padding_side === "string"
        ? cfg.padding_side
        : isObj(json.padding) && typeof json.padding.direction === "string"
          ? json.padding.direction
          : "right";
    this.paddingSide = dir.toLowerCase() === "left" ? "left" : "right";
    this.vocabSize = hf.get_vocab(true).size;
    const pre = JSON.stringify(json.pre_tokenizer ?? null);
    this.#offsetMode = /"ByteLevel"/.test(pre) ? "bytes" : "chars";
    this.#spaceOnly = /"Metaspace"/.test(pre);
    const model = json.model as Json;
    this.#continuingPrefix =
      typeof model.continuing_subword_prefix === "string" ? model.continuing_subword_prefix : "";
    const unk =
      typeof model.unk_token === "string"
        ? hf.token_to_id(model.unk_token)
        : typeof model.unk_id === "number"
          ? model.unk_id
          : undefined;
    this.#unkId = unk;
    const added = new Set<string>();
    if (Array.isArray(json.added_tokens))
      for (const t of json.added_tokens) if (isObj(t) && typeof t.content === "string") added.add(t.content);
    this.#addedTokens = added;
  }

  /** Builds a tokenizer from parsed tokenizer.json content. Throws `E_TOKENIZER_CONFIG` when it cannot. */
  static fromJSON(tokenizerJson: unknown, settings: TokenizerSettings = {}): TextTokenizer {
    if (!isObj(tokenizerJson) || !isObj(tokenizerJson.model))
      throw configError("expected an object with a `model` field");
    let hf: HfTokenizer;
    try {
      hf = new HfTokenizer(upgradeLegacy(tokenizerJson), settings.tokenizerConfig ?? {});
    } catch (e) {
      throw configError(`cannot build the tokenizer: ${(e as Error).message}`, {
        model: String(tokenizerJson.model.type),
      });
    }
    installPrecompiled(hf.normalizer, tokenizerJson.normalizer);
    return new TextTokenizer(hf, tokenizerJson, settings);
  }

  /** Number of special tokens the template adds to one input (2 for BERT) or to a pair. */
  specialTokenCount(pair = false): number {
    return pair ? this.#pairSpecials : this.#singleSpecials;
  }

  /**
   * Content ids of a text: no special tokens, no truncation. Throws `E_TEXT_INPUT` for a text holding an unpaired
   * UTF-16 surrogate (e.g. JSON "\ud800"): it is not Unicode text, and tokenizing it would drop the character
   * silently (TEI refuses such a body too).
   */
  contentIds(text: string): number[] {
    const lone = LONE_SURROGATE.exec(text);
    if (lone) {
      const hex = (lone[0].codePointAt(0) as number).toString(16);
      throw new TesseraError(
        "E_TEXT_INPUT",
        `text holds an unpaired UTF-16 surrogate \\u${hex} at position ${lone.index}; expected valid Unicode text`,
        { position: lone.index },
      );
    }
    return this.#hf.encode(this.#lowercase ? text.toLowerCase() : text, { add_special_tokens: false }).ids;
  }

  /**
   * Encodes one text. Special tokens are added after truncation, so they survive it.
   * Throws `E_TEXT_TOO_LONG` when the text is too long and `truncate` is not true.
   */
  encode(text: string, options: EncodeOptions = {}): TextEncoding {
    return this.encodeIds(this.contentIds(text), options);
  }

  /** Same as `encode` for content ids that are already tokenized (OpenAI token-array input). */
  encodeIds(content: readonly number[], options: EncodeOptions = {}): TextEncoding {
    const add = options.addSpecialTokens ?? true;
    const max = options.maxLength ?? this.maxLength;
    const nSpecial = add ? this.#singleSpecials : 0;
    const fullLength = content.length + nSpecial;
    let body = content;
    let truncated = false;
    if (fullLength > max) {
      if (options.truncate !== true) {
        throw new TesseraError(
          "E_TEXT_TOO_LONG",
          `input has ${fullLength} tokens; the limit is ${max} (truncation is off)`,
          {
            tokens: fullLength,
            maxTokens: max,
          },
        );
      }
      const keep = Math.max(0, max - nSpecial);
      body =
        options.truncationDirection === "left"
          ? content.slice(content.length - keep)
          : content.slice(0, keep);
      truncated = true;
    }
    if (!add)
      return { ids: [...body], typeIds: new Array<number>(body.length).fill(0), fullLength, truncated };
    return { ...this.#apply(this.template.single, body, []), fullLength, truncated };
  }

  /**
   * Encodes a pair (query, document) for cross-encoders, with type ids from the template.
   * Truncation follows `pairStrategy` (default "longest_first"); the template's specials are kept.
   */
  encodePair(a: string, b: string, options: EncodeOptions = {}): TextEncoding {
    let ca = this.contentIds(a);
    let cb = this.contentIds(b);
    const max = options.maxLength ?? this.maxLength;
    const fullLength = ca.length + cb.length + this.#pairSpecials;
    let truncated = false;
    if (fullLength > max) {
      if (options.truncate !== true) {
        throw new TesseraError(
          "E_TEXT_TOO_LONG",
          `pair has ${fullLength} tokens; the limit is ${max} (truncation is off)`,
          {
            tokens: fullLength,
            maxTokens: max,
          },
        );
      }
      let over = fullLength - max;
      let la = ca.length;
      let lb = cb.length;
      if (options.pairStrategy === "second_first") {
        const fromB = Math.min(over, lb);
        lb -= fromB;
        la = Math.max(0, la - (over - fromB));
        over = 0;
      }
      if (over > 0) {
        // Rust tokenizers' LongestFirst (truncate_encodings), which fast tokenizers, TEI and
        // sentence-transformers use: only the longer input is cut when that suffices, else both
        // get half of the budget and the longer one keeps the odd token.
        const budget = Math.max(0, la + lb - over);
        let n1 = Math.min(la, lb);
        let n2 = n1 > budget ? n1 : Math.max(n1, budget - n1);
        if (n1 + n2 > budget) {
          n1 = Math.floor(budget / 2);
          n2 = n1 + (budget % 2);
        }
        [la, lb] = la > lb ? [n2, n1] : [n1, n2];
      }
      const left = options.truncationDirection === "left";
      ca = left ? ca.slice(ca.length - la) : ca.slice(0, la);
      cb = left ? cb.slice(cb.length - lb) : cb.slice(0, lb);
      truncated = true;
    }
    return { ...this.#apply(this.template.pair, ca, cb), fullLength, truncated };
  }

  /** Encodes many texts with the same options (one `TextEncoding` each, in order). */
  encodeBatch(texts: readonly string[], options: EncodeOptions = {}): TextEncoding[] {
    return texts.map((t) => this.encode(t, options));
  }

  /** Token count of a text including special tokens, before any truncation. */
  countTokens(text: string): number {
    return this.contentIds(text).length + this.#singleSpecials;
  }

  /** The tokens of an id sequence with their text and whether they are special. */
  tokensOf(ids: readonly number[]): TokenInfo[] {
    return ids.map((id) => ({ id, text: this.#hf.id_to_token(id) ?? "", special: this.specialIds.has(id) }));
  }

  /**
   * Encodes one text (no truncation) with the UTF-8 byte span of every token in `text`
   * (`null` for special tokens and for tokens that could not be aligned; see offsets.ts), and
   * `added`: true where the post-processor template put the token (Rust `tokenizers`'
   * special_tokens_mask, which TEI's /tokenize reports as `special`; an [UNK] from the text is not).
   */
  encodeWithOffsets(
    original: string,
    addSpecialTokens = true,
  ): { ids: number[]; offsets: ByteSpan[]; added: boolean[] } {
    // With `lowercase` the offsets index the lowercased text (the same bytes unless lowercasing changed a length).
    const text = this.#lowercase ? original.toLowerCase() : original;
    const e = this.#hf.encode(text, { add_special_tokens: false });
    const norm = this.#hf.normalizer;
    const spans = alignOffsets({
      text,
      tokens: e.tokens,
      literal: e.tokens.map((t: string) => this.#addedTokens.has(t)),
      unknown: e.ids.map((id: number) => id === this.#unkId),
      mode: this.#offsetMode,
      continuingPrefix: this.#continuingPrefix,
      normalize: norm ? (c: string) => norm.normalize(c) : null,
      spaceOnly: this.#spaceOnly,
    });
    if (!addSpecialTokens) return { ids: e.ids, offsets: spans, added: e.ids.map(() => false) };
    const ids: number[] = [];
    const offsets: ByteSpan[] = [];
    const added: boolean[] = [];
    for (const p of this.template.single) {
      if (p.kind === "special") {
        for (const id of p.ids) {
          ids.push(id);
          offsets.push(null);
          added.push(true);
        }
      } else {
        ids.push(...e.ids);
        offsets.push(...spans);
        for (let i = 0; i < e.ids.length; i++) added.push(false);
      }
    }
    return { ids, offsets, added };
  }

  /** Decodes ids to text; no ids decode to "" (the library throws on an empty list, Rust `tokenizers` does not). */
  decode(ids: readonly number[], skipSpecialTokens = true): string {
    if (ids.length === 0) return "";
    return this.#hf.decode([...ids], { skip_special_tokens: skipSpecialTokens });
  }

  tokenToId(token: string): number | undefined {
    return this.#hf.token_to_id(token);
  }

  /**
   * Pads encodings to the longest one (on `paddingSide`) into int64 arrays; copies.
   * Attention mask is 1 on real tokens, 0 on padding.
   */
  pad(encodings: readonly TextEncoding[], padToLength?: number): PaddedBatch {
    return padEncodings(encodings, this.padId, padToLength, this.paddingSide);
  }

  #apply(
    tpl: readonly TemplatePiece[],
    a: readonly number[],
    b: readonly number[],
  ): { ids: number[]; typeIds: number[] } {
    const ids: number[] = [];
    const typeIds: number[] = [];
    for (const p of tpl) {
      if (p.kind === "special") {
        for (const id of p.ids) {
          ids.push(id);
          typeIds.push(p.typeId);
        }
      } else {
        for (const id of p.which === "A" ? a : b) {
          ids.push(id);
          typeIds.push(p.typeId);
        }
      }
    }
    return { ids, typeIds };
  }
}

/**
 * Pads encodings into int64 `[n, seqLen]` arrays (copies). "right" (default) puts the real tokens
 * first; "left" puts them last (decoder-style models, tokenizer_config `padding_side: "left"`).
 */
export function padEncodings(
  encodings: readonly TextEncoding[],
  padId: number,
  padToLength?: number,
  side: "left" | "right" = "right",
): PaddedBatch {
  const n = encodings.length;
  let seqLen = padToLength ?? 0;
  for (const e of encodings) seqLen = Math.max(seqLen, e.ids.length);
  const inputIds = new BigInt64Array(n * seqLen);
  const attentionMask = new BigInt64Array(n * seqLen);
  const tokenTypeIds = new BigInt64Array(n * seqLen);
  const lengths = new Int32Array(n);
  const pad = BigInt(padId);
  for (let r = 0; r < n; r++) {
    const e = encodings[r] as TextEncoding;
    const base = r * seqLen;
    lengths[r] = e.ids.length;
    const first = side === "left" ? seqLen - e.ids.length : 0;
    for (let i = 0; i < seqLen; i++) {
      const j = i - first;
      if (j >= 0 && j < e.ids.length) {
        inputIds[base + i] = BigInt(e.ids[j] as number);
        attentionMask[base + i] = 1n;
        tokenTypeIds[base + i] = BigInt(e.typeIds[j] as number);
      } else inputIds[base + i] = pad;
    }
  }
  return { n, seqLen, inputIds, attentionMask, tokenTypeIds, lengths };
}

/**
 * Rewrites fields older `tokenizers` versions wrote into the form the library reads (returns a
 * shallow copy when something changed):
 *   - Metaspace `add_prefix_space: bool` (before tokenizers 0.19; still in many XLM-R /
 *     multilingual-e5 / paraphrase-multilingual files) → `prepend_scheme` "always" | "never"
 *     (the library would default to "always" and add a ▁ the model never saw when it is false).
 */
export function upgradeLegacy(json: Json): Json {
  const fix = (node: unknown): unknown => {
    if (Array.isArray(node)) {
      const out = node.map(fix);
      return out.some((x, i) => x !== node[i]) ? out : node;
    }
    if (!isObj(node)) return node;
    if (
      node.type === "Metaspace" &&
      node.prepend_scheme === undefined &&
      typeof node.add_prefix_space === "boolean"
    )
      return { ...node, prepend_scheme: node.add_prefix_space ? "always" : "never" };
    if (node.type === "Sequence") {
      const key = Array.isArray(node.pretokenizers)
        ? "pretokenizers"
        : Array.isArray(node.decoders)
          ? "decoders"
          : null;
      if (key) {
        const list = fix(node[key]);
        return list === node[key] ? node : { ...node, [key]: list };
      }
    }
    return node;
  };
  const pre = fix(json.pre_tokenizer);
  const dec = fix(json.decoder);
  if (pre === json.pre_tokenizer && dec === json.decoder) return json;
  return { ...json, pre_tokenizer: pre, decoder: dec };
}

/** The library's normalizer objects: callable, with a `normalize` method; Sequence has `normalizers`. */
interface LibNormalizer {
  normalize: (text: string) => string;
  normalizers?: readonly (LibNormalizer | null)[];
}

/**
 * Replaces the approximate normalization of every `Precompiled` normalizer in the library's
 * normalizer tree with the exact charsmap normalization (instance property; the config tree and
 * the instance tree have the same shape, both built from `normalizer` in order).
 */
function installPrecompiled(inst: unknown, cfg: unknown): void {
  if (!isObj(cfg) || inst === null || inst === undefined) return;
  const n = inst as LibNormalizer;
  if (cfg.type === "Precompiled") {
    if (typeof cfg.precompiled_charsmap !== "string" || cfg.precompiled_charsmap.length === 0) return;
    const map = PrecompiledCharsmap.fromBase64(cfg.precompiled_charsmap);
    Object.defineProperty(n, "normalize", { value: (text: string) => map.normalize(text), writable: true });
    return;
  }
  if (cfg.type === "Sequence" && Array.isArray(cfg.normalizers) && Array.isArray(n.normalizers)) {
    cfg.normalizers.forEach((c: unknown, i: number) => {
      installPrecompiled(n.normalizers?.[i], c);
    });
  }
}
