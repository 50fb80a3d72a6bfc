import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { pullModel } from "../../src/text/index.ts";

/** A tiny hub: /api/models/{repo}/revision/{rev}, /{repo}/resolve/{rev}/{file} → 302 /cdn/{sha} for LFS files. */
interface Hub {
  server: Server;
  url: string;
  files: Map<string, Buffer>;
  log: { path: string; range: string | undefined }[];
  /** Cut the next response of this path after N bytes. */
  cut: Map<string, number>;
  listing: boolean;
  corrupt: Set<string>;
}

const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");
const gitSha1 = (b: Buffer): string =>
  createHash("sha1")
    .update(Buffer.concat([Buffer.from(`blob ${b.length}\0`), b]))
    .digest("hex");

/** `n` bytes, byte i = (i * step) % mod: a stand-in graph whose bytes differ along the file. */
const patterned = (n: number, step: number, mod: number): Buffer =>
  Buffer.from(Array.from({ length: n }, (_, i) => (i * step) % mod));

/** The smallest pullable repo: a tokenizer.json and `graph` as onnx/model.onnx. */
const tinyRepo = (graph: Buffer): Record<string, Buffer> => ({
  "tokenizer.json": Buffer.from('{"model":{"type":"WordPiece"}}'),
  "onnx/model.onnx": graph,
});

/** Listens on 127.0.0.1, any port; resolves with the base URL. */
const listen = (s: Server): Promise<string> =>
  new Promise((resolve) =>
    s.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(s.address() as AddressInfo).port}`)),
  );

const stop = (s: Server): void => {
  s.close();
  s.closeAllConnections();
};

/** What a `/{repo}/resolve/main/{file}` request asks for among `files`, with the request path; undefined if none. */
function resolveMain(req: IncomingMessage, repo: string, files: Record<string, Buffer>) {
  const path = new URL(req.url ?? "/", "http://x").pathname;
  const m = new RegExp(`^/${repo}/resolve/main/(.+)$`).exec(path);
  const file = m?.[1] as string;
  const body = m ? files[file] : undefined;
  return body ? { path, file, body } : undefined;
}

/** Runs `body` with a server for `handler` and a fresh cache folder, then stops the one and removes the other. */
async function withServer(
  handler: RequestListener,
  body: (url: string, cache: string) => Promise<void>,
): Promise<void> {
  const server = createServer(handler);
  const url = await listen(server);
  const cache = mkdtempSync(join(tmpdir(), "tessera-pull-"));
  try {
    await body(url, cache);
  } finally {
    stop(server);
    rmSync(cache, { recursive: true, force: true });
  }
}

function startHub(files: Record<string, Buffer>): Promise<Hub> {
  const hub: Hub = {
    server: createServer(),
    url: "",
    files: new Map(Object.entries(files)),
    log: [],
    cut: new Map(),
    listing: true,
    corrupt: new Set(),
  };
  const isLfs = (p: string) => p.endsWith(".onnx");
  const serveBytes = (
    req: IncomingMessage,
    res: ServerResponse,
    key: string,
    body: Buffer,
    headers: Record<string, string>,
  ) => {
    const range = req.headers.range;
    let start = 0;
    if (range) {
      start = Number(/bytes=(\d+)-/.exec(range)?.[1] ?? 0);
      if (start >= body.length) {
        res.writeHead(416, { "content-range": `bytes */${body.length}` }).end();
        return;
      }
      res.writeHead(206, {
        ...headers,
        "content-length": String(body.length - start),
        "content-range": `bytes ${start}-${body.length - 1}/${body.length}`,
      });
    } else res.writeHead(200, { ...headers, "content-length": String(body.length) });
    const payload = hub.corrupt.has(key) ? Buffer.from(body.subarray(start)).fill(7) : body.subarray(start);
    const cutAt = hub.cut.get(key);
    if (cutAt !== undefined) {
      hub.cut.delete(key);
      res.write(payload.subarray(0, cutAt), () => res.destroy());
      return;
    }
    res.end(payload);
  };
  hub.server.on("request", (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    hub.log.push({ path: url.pathname, range: req.headers.range });
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    if (api) {
      if (!hub.listing) return void res.writeHead(404).end();
      const siblings = [...hub.files].map(([p, b]) => ({
        rfilename: p,
        size: b.length,
        ...(isLfs(p) ? { lfs: { sha256: sha256(b), size: b.length } } : {}),
      }));
      return void res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ sha: "abc", siblings }));
    }
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(url.pathname);
    if (cdn) {
      const entry = [...hub.files].find(([, b]) => sha256(b) === cdn[1]);
      if (!entry) return void res.writeHead(404).end();
      return serveBytes(req, res, entry[0], entry[1], {});
    }
    const m = /^\/org\/mini\/resolve\/main\/(.+)$/.exec(url.pathname);
    const body = m ? hub.files.get(m[1] as string) : undefined;
    if (!m || !body) return void res.writeHead(404).end();
    const file = m[1] as string;
    if (isLfs(file)) {
      return void res
        .writeHead(302, {
          location: `/cdn/${sha256(body)}`,
          "x-linked-etag": `"${sha256(body)}"`,
          "x-linked-size": String(body.length),
          etag: `"${sha256(body)}"`,
        })
        .end();
    }
    serveBytes(req, res, file, body, { etag: `"${gitSha1(body)}"` });
  });
  return new Promise((resolve) =>
    hub.server.listen(0, "127.0.0.1", () => {
      hub.url = `http://127.0.0.1:${(hub.server.address() as AddressInfo).port}`;
      resolve(hub);
    }),
  );
}

describe("pullModel against a local hub", () => {
  let hub: Hub;
  let cache: string;
  const graph = patterned(300_000, 7919, 251);
  const files = {
    "config.json": Buffer.from('{"model_type":"bert"}'),
    "tokenizer.json": Buffer.from('{"model":{"type":"WordPiece"}}'),
    "tokenizer_config.json": Buffer.from('{"model_max_length":128}'),
    "onnx/model.onnx": graph,
    "onnx/model_quantized.onnx": graph.subarray(0, 1000),
    "README.md": Buffer.from("not needed"),
  };
  before(async () => {
    hub = await startHub(files);
  });
  beforeEach(() => {
    cache = mkdtempSync(join(tmpdir(), "tessera-pull-"));
    hub.log.length = 0;
    hub.listing = true;
  });
  after(() => stop(hub.server));

  it("downloads only the needed files, verifies them, then works offline", async () => {
    const r = await pullModel({ repo: "org/mini", endpoint: hub.url, cacheDir: cache });
    assert.equal(r.offline, false);
    assert.deepEqual(r.files.map((f) => f.path).sort(), [
      "config.json",
      "onnx/model.onnx",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
    assert.deepEqual(readFileSync(join(r.dir, "onnx/model.onnx")), graph);
    assert.equal(r.files.find((f) => f.path === "onnx/model.onnx")?.sha256, sha256(graph));
    assert.ok(!hub.log.some((l) => l.path.includes("README")));
    hub.log.length = 0;
    const again = await pullModel({ repo: "org/mini", endpoint: "http://127.0.0.1:1", cacheDir: cache });
    assert.equal(again.offline, true);
    assert.equal(hub.log.length, 0);
    rmSync(cache, { recursive: true, force: true });
  });

  it("takes sentence-transformers Dense modules (config + safetensors) with a listing and without one, not other module weights", async () => {
    const dense = {
      "2_Dense/config.json": Buffer.from('{"in_features":8,"out_features":4}'),
      "2_Dense/model.safetensors": patterned(500, 31, 253),
      "3_Dense_768/config.json": Buffer.from('{"in_features":4,"out_features":2}'),
      "0_Transformer/model.safetensors": patterned(800, 13, 251),
    };
    for (const [p, b] of Object.entries(dense)) hub.files.set(p, b);
    const fixedCache = mkdtempSync(join(tmpdir(), "tessera-pull-"));
    try {
      const r = await pullModel({ repo: "org/mini", endpoint: hub.url, cacheDir: cache });
      const got = r.files.map((f) => f.path);
      for (const p of ["2_Dense/config.json", "2_Dense/model.safetensors", "3_Dense_768/config.json"])
        assert.ok(got.includes(p), `${p} in ${got.join(", ")}`);
      assert.ok(!got.includes("0_Transformer/model.safetensors"));
      assert.deepEqual(
        readFileSync(join(r.dir, "2_Dense/model.safetensors")),
        dense["2_Dense/model.safetensors"],
      );
      hub.listing = false;
      const fixed = await pullModel({ repo: "org/mini", endpoint: hub.url, cacheDir: fixedCache });
      const names = fixed.files.map((f) => f.path);
      assert.ok(names.includes("2_Dense/model.safetensors") && names.includes("2_Dense/config.json"));
    } finally {
      for (const p of Object.keys(dense)) hub.files.delete(p);
      rmSync(cache, { recursive: true, force: true });
      rmSync(fixedCache, { recursive: true, force: true });
    }
  });

  it("resumes a download cut in the middle with a Range request", async () => {
    hub.cut.set("onnx/model.onnx", 120_000);
    await assert.rejects(
      pullModel({ repo: "org/mini", endpoint: hub.url, cacheDir: cache, retries: 0 }),
      /E_PULL_NETWORK|failed/,
    );
    const part = join(cache, "org--mini", "main", "onnx", "model.onnx.part");
    assert.ok(existsSync(part));
    const have = statSync(part).size;
    assert.ok(have > 0 && have < graph.length, `partial ${have}`);
    hub.log.length = 0;
    const r = await pullModel({ repo: "org/mini", endpoint: hub.url, cacheDir: cache });
    assert.ok(
      hub.log.some((l) => l.path.startsWith("/cdn/") && l.range === `bytes=${have}-`),
      JSON.stringify(hub.log),
    );
    assert.deepEqual(readFileSync(join(r.dir, "onnx/model.onnx")), graph);
    assert.ok(!existsSync(part));
    rmSync(cache, { recursive: true, force: true });
  });

  it("retries a cut transfer within one call", async () => {
    hub.cut.set("onnx/model.onnx", 50_000);
    const events: string[] = [];
    const r = await pullModel({
      repo: "org/mini",
      endpoint: hub.url,
      cacheDir: cache,
      onProgress: (e) => events.push(e.type),
    });
    assert.ok(events.includes("retry"));
    assert.deepEqual(readFileSync(join(r.dir, "onnx/model.onnx")), graph);
    rmSync(cache, { recursive: true, force: true });
  });

  it("rejects bytes whose sha256 does not match and deletes the part", async () => {
    hub.corrupt.add("onnx/model.onnx");
    try {
      await assert.rejects(
        pullModel({ repo: "org/mini", endpoint: hub.url, cacheDir: cache }),
        (e: unknown) => (e as { code: string }).code === "E_PULL_VERIFY",
      );
      assert.ok(!existsSync(join(cache, "org--mini", "main", "onnx", "model.onnx.part")));
    } finally {
      hub.corrupt.delete("onnx/model.onnx");
      rmSync(cache, { recursive: true, force: true });
    }
  });

  it("without the listing API falls back to the fixed file list; variant picks the quantized graph", async () => {
    hub.listing = false;
    const r = await pullModel({ repo: "org/mini", endpoint: hub.url, cacheDir: cache, variant: "quantized" });
    assert.deepEqual(r.files.map((f) => f.path).sort(), [
      "config.json",
      "onnx/model_quantized.onnx",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
    assert.equal(statSync(join(r.dir, "onnx/model_quantized.onnx")).size, 1000);
    rmSync(cache, { recursive: true, force: true });
  });

  it("a variant the repo lacks names the graphs it has (fp16, int8, q4 ... by onnx/model_<variant>.onnx)", async () => {
    await assert.rejects(
      pullModel({ repo: "org/mini", endpoint: hub.url, cacheDir: cache, variant: "int8" }),
      (e: unknown) =>
        (e as { code: string }).code === "E_PULL_MISSING" &&
        /onnx\/model_int8\.onnx/.test((e as Error).message) &&
        /it has onnx\/model\.onnx, onnx\/model_quantized\.onnx/.test((e as Error).message),
    );
    rmSync(cache, { recursive: true, force: true });
  });

  it("names a missing repo file and a bad repo id", async () => {
    await assert.rejects(
      pullModel({ repo: "../etc", endpoint: hub.url, cacheDir: cache }),
      (e: unknown) => (e as { code: string }).code === "E_PULL_REPO",
    );
    writeFileSync(join(cache, "x"), "");
    await assert.rejects(
      pullModel({ repo: "org/other", endpoint: hub.url, cacheDir: cache }),
      (e: unknown) => (e as { code: string }).code === "E_PULL_MISSING",
    );
    rmSync(cache, { recursive: true, force: true });
  });
});

describe("pullModel without the listing API (a plain mirror)", () => {
  it("takes the first graph found and its external data (onnx/model.onnx_data), not every candidate", async () => {
    const graph = Buffer.from("graph that keeps its weights outside");
    const data = Buffer.alloc(20_000, 9);
    const hub = await startHub({
      "tokenizer.json": Buffer.from('{"model":{"type":"WordPiece"}}'),
      "onnx/model.onnx": graph,
      "onnx/model.onnx_data": data,
      "model.onnx": Buffer.alloc(30_000, 1), // a second copy at the top, as some repos have
    });
    hub.listing = false;
    const cache = mkdtempSync(join(tmpdir(), "tessera-pull-"));
    try {
      const r = await pullModel({ repo: "org/mini", endpoint: hub.url, cacheDir: cache });
      assert.deepEqual(r.files.map((f) => f.path).sort(), [
        "onnx/model.onnx",
        "onnx/model.onnx_data",
        "tokenizer.json",
      ]);
      assert.deepEqual(readFileSync(join(r.dir, "onnx/model.onnx_data")), data);
      assert.ok(!hub.log.some((l) => l.path.endsWith("/main/model.onnx")), JSON.stringify(hub.log));
    } finally {
      stop(hub.server);
      rmSync(cache, { recursive: true, force: true });
    }
  });
});

describe("pullModel from a server that compresses (a mirror behind a gzip proxy)", () => {
  it("asks for the bytes as stored (Accept-Encoding: identity), so sizes, ranges and hashes hold", async () => {
    const { gzipSync } = await import("node:zlib");
    const files: Record<string, Buffer> = {
      "tokenizer.json": Buffer.from(
        JSON.stringify({ model: { type: "WordPiece", vocab: { a: 0, b: 1 } }, pad: "x".repeat(4000) }),
      ),
      "onnx/model.onnx": Buffer.alloc(10_000, 5),
    };
    const seen: (string | undefined)[] = [];
    const handler: RequestListener = (req, res) => {
      const got = resolveMain(req, "org/gz", files);
      if (!got) return void res.writeHead(404).end();
      const { body } = got;
      seen.push(req.headers["accept-encoding"]);
      if (/gzip/.test(req.headers["accept-encoding"] ?? "")) {
        const z = gzipSync(body);
        return void res
          .writeHead(200, { "content-encoding": "gzip", "content-length": String(z.length) })
          .end(z);
      }
      res.writeHead(200, { "content-length": String(body.length) }).end(body);
    };
    await withServer(handler, async (url, cache) => {
      const r = await pullModel({ repo: "org/gz", endpoint: url, cacheDir: cache });
      assert.deepEqual(readFileSync(join(r.dir, "tokenizer.json")), files["tokenizer.json"]);
      assert.ok(
        seen.every((e) => e === "identity"),
        JSON.stringify(seen),
      );
    });
  });
});

describe("pullModel when the server stops sending mid-file", () => {
  it("gives up on a stalled transfer after idleTimeoutMs and resumes it with a Range request", async () => {
    const graph = patterned(40_000, 1, 253);
    const files = tinyRepo(graph);
    const ranges: (string | undefined)[] = [];
    let stalled = false;
    const handler: RequestListener = (req, res) => {
      const got = resolveMain(req, "org/slow", files);
      if (!got) return void res.writeHead(404).end();
      const { path, body } = got;
      if (!path.endsWith(".onnx"))
        return void res.writeHead(200, { "content-length": String(body.length) }).end(body);
      ranges.push(req.headers.range);
      const start = Number(/bytes=(\d+)-/.exec(req.headers.range ?? "")?.[1] ?? 0);
      res.writeHead(start ? 206 : 200, {
        "content-length": String(body.length - start),
        ...(start ? { "content-range": `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
        "x-linked-etag": `"${sha256(body)}"`,
      });
      if (!stalled) {
        stalled = true;
        res.write(body.subarray(0, 15_000)); // then nothing more, connection left open
        return;
      }
      res.end(body.subarray(start));
    };
    await withServer(handler, async (url, cache) => {
      const events: string[] = [];
      const r = await pullModel({
        repo: "org/slow",
        endpoint: url,
        cacheDir: cache,
        idleTimeoutMs: 1000, // long enough that a busy CI machine does not stall the good transfers too
        onProgress: (e) => events.push(e.type),
      });
      assert.deepEqual(readFileSync(join(r.dir, "onnx/model.onnx")), graph);
      assert.ok(events.includes("retry"));
      assert.deepEqual(ranges, [undefined, "bytes=15000-"]);
    });
  });
});

describe("pullModel when the server is briefly overloaded", () => {
  it("retries a 503 / 429 (after Retry-After) instead of failing at once; a 500 on every try still fails", async () => {
    const files = tinyRepo(Buffer.alloc(5_000, 4));
    const failures = new Map<string, number[]>([
      ["tokenizer.json", [503]],
      ["onnx/model.onnx", [429]],
    ]);
    const handler: RequestListener = (req, res) => {
      const got = resolveMain(req, "org/busy", files);
      if (!got) return void res.writeHead(404).end();
      const { file, body } = got;
      const fail = failures.get(file)?.shift();
      if (fail) return void res.writeHead(fail, { "retry-after": "0" }).end("busy");
      res.writeHead(200, { "content-length": String(body.length) }).end(body);
    };
    await withServer(handler, async (url, cache) => {
      const retried: string[] = [];
      const r = await pullModel({
        repo: "org/busy",
        endpoint: url,
        cacheDir: cache,
        onProgress: (e) => {
          if (e.type === "retry") retried.push(e.path);
        },
      });
      assert.deepEqual(readFileSync(join(r.dir, "onnx/model.onnx")), files["onnx/model.onnx"]);
      assert.deepEqual(retried, ["tokenizer.json", "onnx/model.onnx"]);
      failures.set("tokenizer.json", [500, 500, 500]);
      await assert.rejects(
        pullModel({ repo: "org/busy", endpoint: url, cacheDir: cache, retries: 2, refresh: true }),
        (e: unknown) =>
          (e as { code: string }).code === "E_PULL_HTTP" && /HTTP 500/.test((e as Error).message),
      );
    });
  });
});

describe("pullModel when a server answers a Range request from another offset", () => {
  it("a 206 that starts at 0 rewrites the .part instead of appending the whole file to it", async () => {
    const graph = patterned(30_000, 31, 255);
    const files = tinyRepo(graph);
    let cut = true;
    const handler: RequestListener = (req, res) => {
      const got = resolveMain(req, "org/odd", files);
      if (!got) return void res.writeHead(404).end();
      const { path, body } = got;
      const headers = { "x-linked-etag": `"${sha256(body)}"`, "content-length": String(body.length) };
      if (req.headers.range) {
        // ignores the offset asked for and sends everything, as a 206 from 0
        res.writeHead(206, { ...headers, "content-range": `bytes 0-${body.length - 1}/${body.length}` });
        return void res.end(body);
      }
      res.writeHead(200, headers);
      if (cut && path.endsWith(".onnx")) {
        cut = false;
        return void res.write(body.subarray(0, 10_000), () => res.destroy());
      }
      res.end(body);
    };
    await withServer(handler, async (url, cache) => {
      const r = await pullModel({ repo: "org/odd", endpoint: url, cacheDir: cache });
      assert.deepEqual(readFileSync(join(r.dir, "onnx/model.onnx")), graph);
    });
  });
});

describe("pullModel: two pulls of the same model at once", () => {
  it("the second waits for the first (a lock in the model folder) instead of writing the same .part files", async () => {
    const graph = patterned(64_000, 13, 251);
    const files = tinyRepo(graph);
    let graphGets = 0;
    const handler: RequestListener = (req, res) => {
      const got = resolveMain(req, "org/twice", files);
      if (!got) return void res.writeHead(404).end();
      const { path, body } = got;
      if (path.endsWith(".onnx")) graphGets++;
      res.writeHead(200, { "content-length": String(body.length), "x-linked-etag": `"${sha256(body)}"` });
      // slowly, in four pieces, so the two pulls overlap
      let at = 0;
      const next = () => {
        if (at >= body.length) return void res.end();
        res.write(body.subarray(at, at + 16_000));
        at += 16_000;
        setTimeout(next, 30);
      };
      next();
    };
    await withServer(handler, async (url, cache) => {
      const [a, b] = await Promise.all([
        pullModel({ repo: "org/twice", endpoint: url, cacheDir: cache }),
        pullModel({ repo: "org/twice", endpoint: url, cacheDir: cache }),
      ]);
      assert.equal(a.dir, b.dir);
      assert.deepEqual(readFileSync(join(a.dir, "onnx/model.onnx")), graph);
      assert.equal(graphGets, 1);
      assert.ok(!existsSync(join(a.dir, ".tessera-pull.lock")));
      // a lock left by a process that died is taken over
      const { spawnSync } = await import("node:child_process");
      const { hostname } = await import("node:os");
      const dead = spawnSync(process.execPath, ["-e", ""]).pid;
      const other = join(cache, "org--twice", "v2");
      mkdirSync(other, { recursive: true });
      writeFileSync(
        join(other, ".tessera-pull.lock"),
        JSON.stringify({ pid: dead, host: hostname(), at: 0 }),
      );
      const c = await pullModel({ repo: "org/twice", endpoint: url, cacheDir: cache, revision: "v2" }).catch(
        (e: unknown) => e as Error,
      );
      // the server only knows "main": what matters is that the pull ran (and failed on the files) instead of waiting
      assert.ok(
        c instanceof Error && (c as unknown as { code: string }).code === "E_PULL_MISSING",
        String(c),
      );
      assert.ok(!existsSync(join(other, ".tessera-pull.lock")));
    });
  });
});

describe("pullModel: token and redirects to another host (the hub's CDN)", () => {
  // The hub needs the token; its LFS files redirect to a CDN on another origin whose signed URLs
  // refuse a second credential (S3 answers 400 "Only one auth mechanism allowed").
  const graph = Buffer.alloc(50_000, 3);
  const files = tinyRepo(graph);
  let hub: Server;
  let cdn: Server;
  let hubUrl = "";
  let cdnUrl = "";
  const seen: { host: "hub" | "cdn"; path: string; auth: string | undefined }[] = [];
  let cache: string;
  before(async () => {
    hub = createServer((req, res) => {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      seen.push({ host: "hub", path, auth: req.headers.authorization });
      if (req.headers.authorization !== "Bearer hf_secret") return void res.writeHead(401).end();
      if (path.startsWith("/api/")) return void res.writeHead(404).end();
      const m = /^\/org\/private\/resolve\/main\/(.+)$/.exec(path);
      const body = m ? files[m[1] as string] : undefined;
      if (!body) return void res.writeHead(404).end();
      if (path.endsWith(".onnx"))
        return void res
          .writeHead(302, {
            location: `${cdnUrl}/signed/${sha256(body)}?X-Amz-Signature=abc`,
            "x-linked-etag": `"${sha256(body)}"`,
            "x-linked-size": String(body.length),
          })
          .end();
      res.writeHead(200, { "content-length": String(body.length) }).end(body);
    });
    cdn = createServer((req, res) => {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      seen.push({ host: "cdn", path, auth: req.headers.authorization });
      if (req.headers.authorization) return void res.writeHead(400).end("Only one auth mechanism allowed");
      // A second, relative hop on the CDN: resolved against the CDN's URL, not the hub's.
      const signed = /^\/signed\/([0-9a-f]{64})$/.exec(path);
      if (signed) return void res.writeHead(307, { location: `/blob/${signed[1]}` }).end();
      const blob = /^\/blob\/([0-9a-f]{64})$/.exec(path);
      const body = Object.values(files).find((b) => blob && sha256(b) === blob[1]);
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { "content-length": String(body.length) }).end(body);
    });
    hubUrl = await listen(hub);
    cdnUrl = await listen(cdn);
  });
  beforeEach(() => {
    seen.length = 0;
    cache = mkdtempSync(join(tmpdir(), "tessera-pull-"));
  });
  after(() => {
    stop(hub);
    stop(cdn);
  });

  it("without a token, a private repo's 401 says how to pass one", async () => {
    try {
      await assert.rejects(
        pullModel({ repo: "org/private", endpoint: hubUrl, cacheDir: cache, token: "" }),
        (e: unknown) =>
          (e as { code: string }).code === "E_PULL_HTTP" &&
          (e as { facts: { status: number } }).facts.status === 401 &&
          /HF_TOKEN/.test((e as Error).message),
      );
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });

  it("sends the token to the hub only, never to the redirect target on another origin", async () => {
    try {
      const r = await pullModel({
        repo: "org/private",
        endpoint: hubUrl,
        cacheDir: cache,
        token: "hf_secret",
      });
      assert.deepEqual(readFileSync(join(r.dir, "onnx/model.onnx")), graph);
      assert.ok(
        seen.filter((s) => s.host === "hub").every((s) => s.auth === "Bearer hf_secret"),
        JSON.stringify(seen),
      );
      const atCdn = seen.filter((s) => s.host === "cdn");
      assert.ok(atCdn.length > 0, JSON.stringify(seen));
      assert.ok(
        atCdn.every((s) => s.auth === undefined),
        `token leaked to the CDN: ${JSON.stringify(atCdn)}`,
      );
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
