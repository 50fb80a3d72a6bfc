// The lavapipe block of .ci/run must never fail CI: run it with apt-get and dpkg-query replaced by stubs
// (a failing apt, an already-installed Mesa 25, the skip switch) and check its exit status and messages.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

const ci = readFileSync(new URL("../../.ci/run", import.meta.url), "utf8");
const start = ci.indexOf("# >>> providers");
const end = ci.indexOf("# <<< providers <<<");
const block = ci.slice(start, end);
const bin = mkdtempSync(join(tmpdir(), "tessera-ci-stubs-"));
after(() => rmSync(bin, { recursive: true, force: true }));

function stub(name: string, script: string): void {
  const p = join(bin, name);
  writeFileSync(p, `#!/usr/bin/env bash\n${script}\n`);
  chmodSync(p, 0o755);
}
stub("tee", "cat >/dev/null");
stub("sudo", 'shift; exec "$@"'); // only reached when not root

function runBlock(env: Record<string, string>): { status: number | null; out: string } {
  const r = spawnSync("bash", ["-c", `set -euo pipefail\n${block}\necho BLOCK-DONE`], {
    encoding: "utf8",
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, ...env },
    timeout: 30_000,
  });
  return { status: r.status, out: r.stdout + r.stderr };
}

test(".ci/run has a delimited providers block", () => {
  assert.ok(start >= 0 && end > start, "markers '# >>> providers' and '# <<< providers <<<' present");
  assert.match(block, /apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1/);
});

test("apt failing: the block warns and CI goes on", () => {
  stub("dpkg-query", "exit 1");
  stub("apt-get", "echo 'E: Could not resolve the mirror' >&2; exit 100");
  const r = runBlock({});
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /BLOCK-DONE/);
  assert.match(r.out, /::warning::(lavapipe install failed|not Debian bookworm)/);
  assert.match(r.out, /lavapipe step took \d+ s/);
});

test("Mesa 25 already installed: nothing to do", () => {
  stub(
    "dpkg-query",
    `case "$*" in *mesa-vulkan-drivers*) echo -n "install ok installed 25.0.7-2~bpo12+1";; *) echo -n "install ok installed";; esac`,
  );
  stub("apt-get", "echo apt-get must not run >&2; exit 1");
  const r = runBlock({});
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /already installed: mesa-vulkan-drivers 25\.0\.7-2~bpo12\+1/);
  assert.doesNotMatch(r.out, /apt-get must not run/);
});

test("bookworm's Mesa 22.3 counts as missing (too old for Dawn)", () => {
  stub(
    "dpkg-query",
    `case "$*" in *mesa-vulkan-drivers*) echo -n "install ok installed 22.3.6-1+deb12u1";; *) echo -n "install ok installed";; esac`,
  );
  stub("apt-get", 'echo "apt-get $*" >&2; exit 0');
  const r = runBlock({});
  assert.equal(r.status, 0, r.out);
  assert.doesNotMatch(r.out, /already installed/);
  if (
    existsSync("/etc/os-release") &&
    /VERSION_CODENAME=bookworm/.test(readFileSync("/etc/os-release", "utf8"))
  ) {
    assert.match(r.out, /apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1/);
  }
});

test("TESSERA_SKIP_LAVAPIPE=1 skips the step", () => {
  const r = runBlock({ TESSERA_SKIP_LAVAPIPE: "1" });
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /skipped \(TESSERA_SKIP_LAVAPIPE=1\)/);
});
