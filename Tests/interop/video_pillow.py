#!/usr/bin/env python3
"""CI interop check: Pillow decodes the PNG and GIF our Swift writers produced (written by the Swift test
`writeTheFilesThatPillowChecks` into .build/interop/video/). The PNG must equal the frame exactly; the GIF must have
every frame at the right size, loop forever, carry the 125 ms frame delay for 8 fps, and each frame's colors must be
the 6x7x6 cube color nearest to the source pixel. Needs: pip install pillow numpy safetensors."""
import os
import sys

import numpy as np
from PIL import Image, ImageSequence
from safetensors.numpy import load_file

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
d = os.path.join(root, ".build", "interop", "video")
frames = load_file(os.path.join(d, "expected.safetensors"))["frames"]
failures = []

png = Image.open(os.path.join(d, "frame.png"))
png.load()
if png.mode != "RGB" or not np.array_equal(np.asarray(png), frames[0]):
    failures.append(f"PNG: mode {png.mode}, equal={np.array_equal(np.asarray(png.convert('RGB')), frames[0])}")

gif = Image.open(os.path.join(d, "video.gif"))
decoded = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(gif)]
if len(decoded) != len(frames):
    failures.append(f"GIF: {len(decoded)} frames, expected {len(frames)}")
if gif.size != (frames.shape[2], frames.shape[1]):
    failures.append(f"GIF: size {gif.size}")
if gif.info.get("loop") != 0:
    failures.append(f"GIF: loop {gif.info.get('loop')}")
if gif.info.get("duration") != 120:
    failures.append(f"GIF: duration {gif.info.get('duration')} ms")


def cube(x, n):
    return ((x.astype(np.int32) * (n - 1) + 127) // 255 * 255 + (n - 1) // 2) // (n - 1)


for i, (got, src) in enumerate(zip(decoded, frames)):
    want = np.stack([cube(src[..., 0], 6), cube(src[..., 1], 7), cube(src[..., 2], 6)], -1)
    if not np.array_equal(got.astype(np.int32), want):
        failures.append(f"GIF frame {i}: colors differ from the nearest cube colors")

if failures:
    print("video_pillow: FAILED\n  " + "\n  ".join(failures))
    sys.exit(1)
print(f"video_pillow: Pillow decoded our PNG exactly and our GIF's {len(decoded)} frames")
