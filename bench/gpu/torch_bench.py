#!/usr/bin/env python3
"""PyTorch ceiling for bench/gpu (issue 7): the minilm-shape encoder from make_fixture.py (seed 0, the same
weights as its model.onnx) on the GPU in fp32, on the same inputs as bench/gpu/webgpu.ts (benchInputs).

  python3 bench/gpu/torch_bench.py --fixtures DIR [--export OUT.onnx] [--batch 32] [--seq 128]
                                   [--seconds 10] [--compare-dir DIR] [--device cuda]

--fixtures: the folder holding make_fixture.py (and wordpiece.py, vocab.txt).
--export:   also write the ONNX model with the TorchScript exporter (opset 14, dynamic batch/sequence),
            for when make_fixture.py itself cannot export (e.g. a torch whose default exporter needs onnxscript).
--compare-dir: read ort-<provider>.f32 written by webgpu.ts --dump-dir and print max |ort - torch|.
Prints one JSON object.
"""
import argparse
import inspect
import json
import os
import sys
import time

sys.dont_write_bytecode = True


def bench_inputs(batch, seq):
    """Same formula as benchInputs() in bench/gpu/webgpu.ts."""
    ids = [[0] * seq for _ in range(batch)]
    mask = [[0] * seq for _ in range(batch)]
    for b in range(batch):
        length = seq - ((b * 7) % max(1, seq // 2))
        for s in range(length):
            ids[b][s] = 101 if s == 0 else 102 if s == length - 1 else 1000 + ((b * 7919 + s * 104729) % 29000)
            mask[b][s] = 1
    return ids, mask


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--export")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--compare-dir")
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()

    sys.path.insert(0, os.path.abspath(args.fixtures))
    import torch
    import make_fixture  # noqa: E402  (build_model: seed 0, same weights as its model.onnx)

    torch.backends.cuda.matmul.allow_tf32 = False  # strict fp32, like ONNX Runtime's MatMul
    torch.backends.cudnn.allow_tf32 = False
    model = make_fixture.build_model()
    ids, mask = bench_inputs(args.batch, args.seq)
    input_ids = torch.tensor(ids, dtype=torch.int64)
    attention_mask = torch.tensor(mask, dtype=torch.int64)
    token_type_ids = torch.zeros_like(input_ids)

    report = {"torch": torch.__version__, "batch": args.batch, "seq": args.seq}
    if args.export:
        os.makedirs(os.path.dirname(os.path.abspath(args.export)), exist_ok=True)
        kw = {}
        if "dynamo" in inspect.signature(torch.onnx.export).parameters:
            kw["dynamo"] = False
        t = time.perf_counter()
        torch.onnx.export(
            model, (input_ids, attention_mask, token_type_ids), args.export,
            input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch_size", 1: "sequence_length"} for n in ["input_ids", "attention_mask", "token_type_ids"]}
            | {"last_hidden_state": {0: "batch_size", 1: "sequence_length"}},
            opset_version=make_fixture.OPSET, do_constant_folding=True, **kw)
        report["exportSeconds"] = time.perf_counter() - t

    dev = torch.device(args.device if (args.device != "cuda" or torch.cuda.is_available()) else "cpu")
    report["device"] = torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu"
    model = model.to(dev)
    feeds = (input_ids.to(dev), attention_mask.to(dev), token_type_ids.to(dev))
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    with torch.inference_mode():
        t = time.perf_counter()
        out = model(*feeds)
        sync()
        report["firstMs"] = (time.perf_counter() - t) * 1000
        for _ in range(3):
            model(*feeds)
        sync()
        runs = 0
        t0 = time.perf_counter()
        while runs < 5 or time.perf_counter() - t0 < args.seconds:
            model(*feeds)
            runs += 1
            if runs % 10 == 0:
                sync()
        sync()
        elapsed = time.perf_counter() - t0
    report["runs"] = runs
    report["runsPerS"] = runs / elapsed
    report["tokensPerS"] = runs * args.batch * args.seq / elapsed

    if args.compare_dir:
        ref = out.float().cpu().reshape(-1)
        diffs = {}
        for name in sorted(os.listdir(args.compare_dir)):
            if name.startswith("ort-") and name.endswith(".f32"):
                data = torch.frombuffer(bytearray(open(os.path.join(args.compare_dir, name), "rb").read()), dtype=torch.float32)
                diffs[name[4:-4]] = float((data - ref).abs().max()) if data.numel() == ref.numel() else f"size {data.numel()} != {ref.numel()}"
        report["maxAbsDiffVsTorch"] = diffs
    print(json.dumps(report))


if __name__ == "__main__":
    main()
