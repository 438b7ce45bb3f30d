"""Reference data for the frame writers and the I2V image path, from numpy and Pillow.

fixtures/video/
  video.safetensors
    quantize.x / quantize.u8         float32 values in and around [0, 1] (exact halves of 1/255 steps included) and
                                     diffusers' numpy_to_pil result (x * 255).round().astype(uint8) after clip
    lanczos.src                      uint8 [48, 64, 3] random image
    lanczos.{w}x{h}                  PIL Image.resize((w, h), Image.LANCZOS) of it, uint8 [h, w, 3]
    png.{name}                       what PIL's convert("RGB") gives for fixtures/video/{name}.png
  {rgb,rgba,gray,gray_alpha,palette}.png   written by PIL (8-bit, its own filter choices)
"""
import os

import numpy as np
from PIL import Image
from safetensors.numpy import save_file

SIZES = [(30, 20), (100, 70), (64, 20), (13, 48), (64, 48), (7, 3)]


def generate(root):
    d = os.path.join(root, "video")
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(20241125)
    out = {}
    x = np.concatenate([rng.uniform(-0.1, 1.1, 2000), (np.arange(0, 511) + 0.0) / 510, [0.0, 1.0, np.nan]])
    x = x.astype(np.float32)
    out["quantize.x"] = x
    out["quantize.u8"] = (np.nan_to_num(np.clip(x, 0, 1), nan=0.0) * 255).round().astype(np.uint8)

    # A smooth image with noise, so both ringing and clipping of the Lanczos lobes are exercised.
    yy, xx = np.mgrid[0:48, 0:64]
    base = np.stack([xx * 4, yy * 5, (xx + yy) * 2], -1).astype(np.float64)
    src = np.clip(base + rng.normal(0, 40, base.shape), 0, 255).astype(np.uint8)
    src[10:20, 10:20] = [255, 0, 0]
    out["lanczos.src"] = src
    img = Image.fromarray(src, "RGB")
    for w, h in SIZES:
        out[f"lanczos.{w}x{h}"] = np.asarray(img.resize((w, h), Image.LANCZOS))

    small = src[:13, :17]
    alpha = rng.integers(0, 256, small.shape[:2], dtype=np.uint8)
    images = {
        "rgb": Image.fromarray(small, "RGB"),
        "rgba": Image.fromarray(np.dstack([small, alpha]), "RGBA"),
        "gray": Image.fromarray(small[..., 1], "L"),
        "gray_alpha": Image.fromarray(np.dstack([small[..., 0], alpha]), "LA"),
        "palette": Image.fromarray(small, "RGB").quantize(colors=40),
    }
    for name, im in images.items():
        path = os.path.join(d, f"{name}.png")
        im.save(path, format="PNG")
        out[f"png.{name}"] = np.asarray(Image.open(path).convert("RGB"))
    save_file(dict(sorted(out.items())), os.path.join(d, "video.safetensors"),
              metadata={"pillow": Image.__version__, "numpy": np.__version__})
