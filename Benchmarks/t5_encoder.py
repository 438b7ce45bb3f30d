#!/usr/bin/env python3
"""T5 encoder forward at T5-XXL width (d_model 4096, d_ff 10240, 64 heads, vocab 32128; 2 layers, random weights)
on 226 tokens: Swift `T5Encoder` vs transformers' `T5EncoderModel` (fp32) in one run, each in its own process
(load from the same safetensors folder, then REPEATS forwards): load time, first and best forward, peak RSS, and
max |swift − torch| / max |torch| of last_hidden_state (issue 4).

    swift build -c release --product cogvideo-bench
    /work/venv/bin/python Benchmarks/t5_encoder.py [--layers 2] [--threads 2] [--repeats 3] [--dir /tmp/cogvideo-t5-bench]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np


def make_weights(d, layers):
    import torch
    from transformers import T5Config, T5EncoderModel
    cfg_path = os.path.join(d, "config.json")
    if os.path.exists(cfg_path) and json.load(open(cfg_path)).get("num_layers") == layers:
        return
    torch.manual_seed(0)
    cfg = T5Config(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=layers, num_heads=64,
                   relative_attention_num_buckets=32, relative_attention_max_distance=128, feed_forward_proj="gated-gelu",
                   layer_norm_epsilon=1e-6, is_encoder_decoder=False, use_cache=False)
    T5EncoderModel(cfg).eval().save_pretrained(d)


def torch_child(d, repeats, threads, out):
    import torch
    from transformers import T5EncoderModel
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    model = T5EncoderModel.from_pretrained(d, dtype=torch.float32).eval()
    load = time.perf_counter() - t0
    vocab = model.config.vocab_size
    ids = torch.tensor([[(i * 7919 + 13) % vocab for i in range(226)]])
    first, best = 0.0, 1e9
    with torch.inference_mode():
        for r in range(repeats):
            t0 = time.perf_counter()
            y = model(input_ids=ids).last_hidden_state
            dt = time.perf_counter() - t0
            first = dt if r == 0 else first
            best = min(best, dt)
    y.float().numpy().astype("<f4").tofile(out)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"bench": "t5", "impl": "torch", "threads": threads, "load_seconds": load, "first_seconds": first,
                      "best_seconds": best, "peak_rss_mb": rss}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dir", default="/tmp/cogvideo-t5-bench")
    ap.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--bench", default=os.path.join(os.path.dirname(__file__), "..", ".build", "release", "cogvideo-bench"))
    args = ap.parse_args()
    if args.torch_child:
        torch_child(args.dir, args.repeats, args.threads, os.path.join(args.dir, "torch_out.f32"))
        return
    os.makedirs(args.dir, exist_ok=True)
    make_weights(args.dir, args.layers)
    t = json.loads(subprocess.run([sys.executable, __file__, "--torch-child", "--dir", args.dir, "--repeats",
                                   str(args.repeats), "--threads", str(args.threads)], check=True, capture_output=True,
                                  text=True).stdout.strip().splitlines()[-1])
    swift_out = os.path.join(args.dir, "swift_out.f32")
    s = json.loads(subprocess.run([args.bench, "t5", args.dir, str(args.repeats), str(args.threads), swift_out],
                                  check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    a = np.fromfile(swift_out, dtype="<f4")
    b = np.fromfile(os.path.join(args.dir, "torch_out.f32"), dtype="<f4")
    err = float(np.abs(a - b).max() / np.abs(b).max()) if a.shape == b.shape else float("nan")
    print(f"T5 encoder, d_model 4096, d_ff 10240, 64 heads, {args.layers} layers, 226 tokens, {args.threads} threads, "
          f"best of {args.repeats}")
    print(f"{'impl':<8}{'load s':>9}{'first s':>10}{'best s':>9}{'peak RSS MB':>13}")
    for r in (t, s):
        print(f"{r['impl']:<8}{r['load_seconds']:>9.2f}{r['first_seconds']:>10.3f}{r['best_seconds']:>9.3f}"
              f"{r['peak_rss_mb']:>13.0f}")
    print(f"swift/torch best-forward time ratio: {s['best_seconds'] / t['best_seconds']:.2f}x; "
          f"max |swift - torch| / max |torch| = {err:.2e}")


if __name__ == "__main__":
    main()
