/**
 * Byte offsets of tokens in the original text (for TEI's /tokenize `start`/`stop`), recovered by
 * aligning token surfaces with the input, since @huggingface/tokenizers reports no offsets.
 *
 * Two modes:
 *   bytes  (ByteLevel pre-tokenizer, GPT-2/RoBERTa BPE): each token maps back to exact bytes through
 *          the GPT-2 byte table; offsets are the running byte position, widened to whole UTF-8
 *          characters when a token holds only part of one (so two tokens can share a character).
 *   chars  (WordPiece, Unigram/Metaspace, ...): every input character is normalized on its own with
 *          the tokenizer's normalizer (lowercase, accent stripping, ...); whitespace is skipped; each
 *          token's surface (without "##" / "▁") is matched against that stream. An unknown token
 *          covers the input up to where the next token matches (or the next whitespace).
 * When a token cannot be aligned, it and every later token get `null` (never a wrong offset).
 */

/** [start, stop) in UTF-8 bytes of the original text, or null (special tokens, unaligned tokens). */
export type ByteSpan = readonly [number, number] | null;

let byteDecoder: Map<string, number> | undefined;
/** GPT-2's bytes_to_unicode, inverted: printable stand-in char → byte. */
function byteLevelDecoder(): Map<string, number> {
  if (byteDecoder) return byteDecoder;
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  byteDecoder = new Map(bs.map((b, i) => [String.fromCodePoint(cs[i] as number), b]));
  return byteDecoder;
}

export interface AlignInput {
  readonly text: string;
  /** Content tokens (no specials) as the model spells them. */
  readonly tokens: readonly string[];
  /** Tokens that are added/special tokens (their surface is their literal content). */
  readonly literal: readonly boolean[];
  readonly unknown: readonly boolean[];
  readonly mode: "bytes" | "chars";
  readonly continuingPrefix: string;
  readonly normalize: ((s: string) => string) | null;
  /** Only U+0020 separates words (Metaspace); otherwise any Unicode whitespace does (BERT). */
  readonly spaceOnly?: boolean;
}

const WS = /\s/u;

export function alignOffsets(a: AlignInput): ByteSpan[] {
  return a.mode === "bytes" ? alignBytes(a) : alignChars(a);
}

function alignBytes(a: AlignInput): ByteSpan[] {
  const src = Buffer.from(a.text, "utf8");
  const dec = byteLevelDecoder();
  const out: ByteSpan[] = [];
  let pos = 0;
  let ok = true;
  for (let t = 0; t < a.tokens.length; t++) {
    const tok = a.tokens[t] as string;
    if (!ok) {
      out.push(null);
      continue;
    }
    let bytes: number[];
    if (a.literal[t]) bytes = [...Buffer.from(tok, "utf8")];
    else {
      bytes = [];
      for (const ch of tok) {
        const b = dec.get(ch);
        if (b === undefined) {
          ok = false;
          break;
        }
        bytes.push(b);
      }
    }
    // add_prefix_space inserts a space that is not in the input.
    if (ok && pos === 0 && bytes[0] === 0x20 && src[0] !== 0x20) bytes = bytes.slice(1);
    if (ok && a.literal[t]) {
      const at = src.indexOf(Buffer.from(bytes), pos);
      if (at < 0) ok = false;
      else pos = at;
    }
    if (ok && bytes.every((b, i) => src[pos + i] === b)) {
      // trim_offsets: a leading space belongs to the token's id but not to its span.
      let lead = 0;
      while (lead < bytes.length - 1 && bytes[lead] === 0x20) lead++;
      // A token holding part of a multi-byte character spans the whole character, as in
      // Hugging Face tokenizers (Rust): its offsets come from the original character's range.
      let start = pos + lead;
      let stop = pos + bytes.length;
      while (start > 0 && isContinuation(src[start])) start--;
      while (stop < src.length && isContinuation(src[stop])) stop++;
      out.push([start, stop]);
      pos += bytes.length;
    } else {
      ok = false;
      out.push(null);
    }
  }
  return out;
}

function isContinuation(b: number | undefined): boolean {
  return b !== undefined && (b & 0xc0) === 0x80;
}

interface NChar {
  readonly ch: string;
  readonly start: number;
  readonly stop: number;
  /** Whitespace in the original follows this char (a word boundary). */
  boundaryAfter: boolean;
}

function alignChars(a: AlignInput): ByteSpan[] {
  // Normalized stream without whitespace, each char mapped to its original byte span.
  const stream: NChar[] = [];
  let byte = 0;
  const isSpace = (c: string): boolean => (a.spaceOnly ? c === " " : WS.test(c));
  const boundary = (): void => {
    const last = stream.at(-1);
    if (last) last.boundaryAfter = true;
  };
  for (const cp of a.text) {
    const len = Buffer.byteLength(cp, "utf8");
    const norm = a.normalize ? a.normalize(cp) : cp;
    // A normalizer may pad a char with spaces (BERT's CJK handling): that is a word boundary too.
    for (const ch of norm) {
      if (isSpace(ch)) boundary();
      else stream.push({ ch, start: byte, stop: byte + len, boundaryAfter: false });
    }
    byte += len;
  }
  const surface = (t: number): string => {
    let s = a.tokens[t] as string;
    if (a.literal[t]) return s.replace(/\s/gu, "");
    if (a.continuingPrefix && s.startsWith(a.continuingPrefix)) s = s.slice(a.continuingPrefix.length);
    return s.replace(/\u2581/g, "");
  };
  const matchesAt = (pos: number, s: string): boolean => {
    let i = pos;
    for (const ch of s) {
      if (stream[i]?.ch !== ch) return false;
      i++;
    }
    return true;
  };
  const out: ByteSpan[] = [];
  let pos = 0;
  let ok = true;
  for (let t = 0; t < a.tokens.length; t++) {
    if (!ok) {
      out.push(null);
      continue;
    }
    if (a.unknown[t]) {
      // Up to where the next known token matches, or the end of the word.
      let next = t + 1;
      while (next < a.tokens.length && a.unknown[next]) next++;
      const ns = next < a.tokens.length ? surface(next) : "";
      let end = pos + 1;
      while (end < stream.length && !(stream[end - 1] as NChar).boundaryAfter && !(ns && matchesAt(end, ns)))
        end++;
      if (pos >= stream.length) {
        ok = false;
        out.push(null);
        continue;
      }
      out.push([(stream[pos] as NChar).start, (stream[end - 1] as NChar).stop]);
      pos = end;
      continue;
    }
    const s = surface(t);
    if (s.length === 0) {
      out.push(null);
      continue;
    }
    if (!matchesAt(pos, s)) {
      ok = false;
      out.push(null);
      continue;
    }
    const n = [...s].length;
    out.push([(stream[pos] as NChar).start, (stream[pos + n - 1] as NChar).stop]);
    pos += n;
  }
  return out;
}
