/**
 * Optional API keys: `Authorization: Bearer <key>`. Keys are compared as SHA-256 digests with
 * crypto.timingSafeEqual, against every configured key (no early exit), so timing reveals neither
 * the key nor which one matched.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { TesseraError } from "../tensor/index.ts";

function digest(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}

export class ApiKeys {
  private readonly digests: readonly Buffer[];

  constructor(keys: readonly string[]) {
    this.digests = keys.map(digest);
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** True when the header carries one of the keys. */
  matches(authorization: string | undefined): boolean {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    const given = digest(m?.[1] ?? "");
    let ok = false;
    for (const d of this.digests) ok = timingSafeEqual(d, given) || ok;
    return ok && m !== null;
  }

  /** Throws `E_UNAUTHORIZED` unless the header carries a key (no-op when no keys are configured). */
  check(authorization: string | undefined): void {
    if (!this.enabled || this.matches(authorization)) return;
    throw new TesseraError(
      "E_UNAUTHORIZED",
      authorization
        ? "the API key is not valid"
        : "this server requires an API key: send Authorization: Bearer <key>",
      {},
    );
  }
}
