#!/usr/bin/env python3
"""Regenerates every committed fixture under fixtures/ from the reference Python libraries
(safetensors, gguf-py, torch, diffusers, transformers, sentencepiece). Never from our Swift code.

    python tools/make_fixtures.py            # everything, in dependency order
    python tools/make_fixtures.py --only safetensors_files

Needs (in a virtual environment outside the repository):
    pip install torch diffusers transformers sentencepiece safetensors gguf numpy pillow protobuf
Every part is deterministic (fixed seeds): rerunning reproduces identical files.
"""
import argparse
import importlib
import os
import sys

# Order matters: later parts load models written by earlier ones (tiny_models before transformer/vae/...).
PARTS = [
    "safetensors_files",
    "gguf_files",
    "tiny_models",
    "t5",
    "sat",
    "transformer",
    "vae",
    "tokenizer",
    "pipelines",
    "rng",
    "schedulers",
    "video",
]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    sys.path.insert(0, here)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", choices=PARTS, help="run only this part (repeatable)")
    ap.add_argument("--out", default=os.path.join(root, "fixtures"), help="fixtures folder (default: fixtures/)")
    args = ap.parse_args()
    for part in args.only or PARTS:
        print(f"== {part}", flush=True)
        importlib.import_module(f"fixturegen.{part}").generate(args.out)


if __name__ == "__main__":
    main()
