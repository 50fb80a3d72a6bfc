/**
 * SentencePiece "precompiled charsmap" normalizer (the `Precompiled` normalizer of XLM-R,
 * multilingual-e5, bge-m3, ... tokenizer.json files).
 *
 * @huggingface/tokenizers 0.2.0 ignores the charsmap and approximates it with NFKC plus a few
 * whitespace rules; on text where SentencePiece's `nmt_nfkc` rule differs (zero-width spaces,
 * some compatibility characters) the ids then differ from the model's. This file reads the
 * charsmap itself and normalizes as SentencePiece does (`normalizer.cc NormalizePrefix`):
 *
 *   blob layout:  u32 LE trie_size (bytes) | darts-clone double array (trie_size / 4 u32 units)
 *                 | normalized strings, NUL-terminated, UTF-8
 *   normalize:    at each position take the LONGEST prefix of the remaining UTF-8 bytes found in
 *                 the trie and emit the string at the value's offset; without a match copy one
 *                 character.
 *
 * Checked against SentencePiece 0.1.97 on a charsmap it compiled (test/text/precompiled.test.ts,
 * goldens from scripts/goldens/make_precompiled.py).
 */
import { TesseraError } from "../tensor/index.ts";

const ENC = new TextEncoder();
const DEC = new TextDecoder("utf-8");

/** A decoded charsmap; `normalize` is pure and allocation-light. */
export class PrecompiledCharsmap {
  readonly #units: Uint32Array;
  readonly #blob: Uint8Array;
  readonly #cache = new Map<number, string>();

  private constructor(units: Uint32Array, blob: Uint8Array) {
    this.#units = units;
    this.#blob = blob;
  }

  /** Parses the base64 `precompiled_charsmap` of a tokenizer.json. Throws `E_TOKENIZER_CONFIG`. */
  static fromBase64(b64: string): PrecompiledCharsmap {
    const bytes = Buffer.from(b64, "base64");
    return PrecompiledCharsmap.fromBytes(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }

  /** Parses a raw charsmap (copies the trie). */
  static fromBytes(bytes: Uint8Array): PrecompiledCharsmap {
    const bad = (why: string): TesseraError =>
      new TesseraError("E_TOKENIZER_CONFIG", `tokenizer.json: precompiled_charsmap ${why}`, {
        bytes: bytes.length,
      });
    if (bytes.length < 4) throw bad(`has ${bytes.length} bytes; expected at least 4`);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const trieSize = dv.getUint32(0, true);
    if (trieSize % 4 !== 0 || 4 + trieSize > bytes.length || trieSize === 0)
      throw bad(`declares a trie of ${trieSize} bytes in a blob of ${bytes.length}`);
    const units = new Uint32Array(trieSize / 4);
    for (let i = 0; i < units.length; i++) units[i] = dv.getUint32(4 + i * 4, true);
    return new PrecompiledCharsmap(units, bytes.slice(4 + trieSize));
  }

  /**
   * Length in bytes of the longest key that prefixes `key[from..]`, and its value (an offset
   * into the normalized-string blob); `undefined` when no key matches.
   */
  longestMatch(key: Uint8Array, from: number): { length: number; value: number } | undefined {
    const a = this.#units;
    let pos = 0;
    let unit = a[0] as number;
    pos ^= offsetOf(unit);
    let best: { length: number; value: number } | undefined;
    for (let i = from; i < key.length; i++) {
      const c = key[i] as number;
      if (c === 0) break;
      pos ^= c;
      unit = a[pos] as number;
      if (unit === undefined || labelOf(unit) !== c) break;
      pos ^= offsetOf(unit);
      if ((unit >>> 8) & 1) best = { length: i - from + 1, value: ((a[pos] as number) & 0x7fffffff) >>> 0 };
    }
    return best;
  }

  /** The NUL-terminated normalized string at `offset` of the blob. */
  replacement(offset: number): string {
    const hit = this.#cache.get(offset);
    if (hit !== undefined) return hit;
    let end = offset;
    while (end < this.#blob.length && this.#blob[end] !== 0) end++;
    const s = DEC.decode(this.#blob.subarray(offset, end));
    this.#cache.set(offset, s);
    return s;
  }

  /** Normalizes `text` as SentencePiece does with this charsmap (no whitespace handling). */
  normalize(text: string): string {
    if (text.length === 0) return text;
    const bytes = ENC.encode(text);
    let out = "";
    let copyFrom = 0; // start of the pending run of unchanged bytes
    let i = 0;
    while (i < bytes.length) {
      const m = this.longestMatch(bytes, i);
      if (m) {
        if (copyFrom < i) out += DEC.decode(bytes.subarray(copyFrom, i));
        out += this.replacement(m.value);
        i += m.length;
        copyFrom = i;
      } else {
        i += utf8Len(bytes[i] as number);
      }
    }
    if (copyFrom < bytes.length) out += DEC.decode(bytes.subarray(copyFrom));
    return out;
  }
}

function offsetOf(unit: number): number {
  return ((unit >>> 10) << ((unit & (1 << 9)) >>> 6)) >>> 0;
}

function labelOf(unit: number): number {
  return (unit & ((1 << 31) | 0xff)) >>> 0;
}

function utf8Len(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xf0) return 4;
  if (lead >= 0xe0) return 3;
  if (lead >= 0xc0) return 2;
  return 1;
}
