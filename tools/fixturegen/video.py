"""Reference data for the frame writers and the I2V image path, from numpy and Pillow.

fixtures/video/
  video.safetensors
    quantize.x / quantize.u8         float32 values in and around [0, 1] (exact halves of 1/255 steps included) and
                                     diffusers' numpy_to_pil result (x * 255).round().astype(uint8) after clip
    lanczos.src                      uint8 [48, 64, 3] random image
    lanczos.{w}x{h}                  PIL Image.resize((w, h), Image.LANCZOS) of it, uint8 [h, w, 3]
    png.{name}                       what PIL's convert("RGB") gives for fixtures/video/{name}.png
    preprocess.{w}x{h}               diffusers VideoProcessor(vae_scale_factor=8).preprocess(lanczos.src, h, w)[0]
  {rgb,rgba,gray,gray_alpha,palette,...}.png   PNGs written by PIL (its own filter choices) and, for what PIL cannot
                                   write (2/4-bit gray, 16-bit color, Adam7 interlace), by `raw_png` below with every
                                   filter type in turn; png.{name} is always PIL's decoding, never ours
"""
import os
import struct
import zlib

import numpy as np
from PIL import Image
from safetensors.numpy import save_file

SIZES = [(30, 20), (100, 70), (64, 20), (13, 48), (64, 48), (7, 3), (96, 40), (63, 10), (15, 6), (46, 9), (65, 47)]
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _pack(samples, depth):
    """One row of samples (ints) packed at `depth` bits, big-endian, padded to a byte."""
    if depth == 16:
        return b"".join(struct.pack(">H", v) for v in samples)
    if depth == 8:
        return bytes(samples)
    bits = "".join(format(v, f"0{depth}b") for v in samples)
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))


def _filter(row, prior, ftype, bpp):
    out = bytearray(len(row))
    for i in range(len(row)):
        a = row[i - bpp] if i >= bpp else 0
        b = prior[i]
        c = prior[i - bpp] if i >= bpp else 0
        if ftype == 0:
            pred = 0
        elif ftype == 1:
            pred = a
        elif ftype == 2:
            pred = b
        elif ftype == 3:
            pred = (a + b) // 2
        else:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
        out[i] = (row[i] - pred) & 0xFF
    return bytes(out)


def raw_png(samples, color, depth, interlace=False, palette=None):
    """A PNG from an [H, W, C] integer array, cycling filter types 0..4 over the scanlines."""
    h, w, ch = samples.shape
    bpp = max(1, ch * depth // 8)
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    raw, k = bytearray(), 0
    for x0, y0, dx, dy in passes:
        sub = samples[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        prior = bytes(len(_pack(sub[0].reshape(-1).tolist(), depth)))
        for r in sub:
            row = _pack(r.reshape(-1).tolist(), depth)
            raw += bytes([k % 5]) + _filter(row, prior, k % 5, bpp)
            prior, k = row, k + 1
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, int(interlace)))
    if palette is not None:
        out += _chunk(b"PLTE", bytes(palette))
    return out + _chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + _chunk(b"IEND", b"")


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
        out[f"lanczos.{w}x{h}"] = np.ascontiguousarray(np.asarray(img.resize((w, h), Image.LANCZOS)))

    small = src[:13, :17]
    alpha = rng.integers(0, 256, small.shape[:2], dtype=np.uint8)
    images = {
        "rgb": Image.fromarray(small, "RGB"),
        "rgba": Image.fromarray(np.dstack([small, alpha]), "RGBA"),
        "gray": Image.fromarray(small[..., 1], "L"),
        "gray_alpha": Image.fromarray(np.dstack([small[..., 0], alpha]), "LA"),
        "palette": Image.fromarray(small, "RGB").quantize(colors=40),
    }
    images["gray_1bit"] = Image.fromarray(small[..., 0] > 128).convert("1")
    images["palette_1bit"] = Image.fromarray(small, "RGB").quantize(colors=2)
    images["palette_2bit"] = Image.fromarray(small, "RGB").quantize(colors=4)
    images["palette_4bit"] = Image.fromarray(small, "RGB").quantize(colors=16)
    images["gray_16bit"] = Image.fromarray((small[..., 1].astype(np.uint16) * 3))  # I;16, values above 255
    for name, im in images.items():
        with open(os.path.join(d, f"{name}.png"), "wb") as f:
            im.save(f, format="PNG")
    wide = rng.integers(0, 65536, (11, 13, 4))
    pal = rng.integers(0, 256, 48).tolist()
    raw = {
        "gray_2bit": raw_png(rng.integers(0, 4, (9, 11, 1)), 0, 2),
        "gray_4bit": raw_png(rng.integers(0, 16, (9, 11, 1)), 0, 4),
        "rgb_16bit": raw_png(wide[..., :3], 2, 16),
        "rgba_16bit": raw_png(wide, 6, 16),
        "gray_alpha_16bit": raw_png(wide[..., :2], 4, 16),
        "adam7_rgb": raw_png(src[:13, :17].astype(np.int64), 2, 8, interlace=True),
        "adam7_palette_4bit": raw_png(rng.integers(0, 16, (10, 9, 1)), 3, 4, interlace=True, palette=pal),
        "adam7_gray_1bit": raw_png(rng.integers(0, 2, (5, 3, 1)), 0, 1, interlace=True),
    }
    for name, data in raw.items():
        with open(os.path.join(d, f"{name}.png"), "wb") as f:
            f.write(data)
    for name in list(images) + list(raw):
        out[f"png.{name}"] = np.asarray(Image.open(os.path.join(d, f"{name}.png")).convert("RGB"))

    from diffusers.video_processor import VideoProcessor
    vp = VideoProcessor(vae_scale_factor=8)
    for w, h in [(32, 24), (64, 48), (96, 40)]:
        out[f"preprocess.{w}x{h}"] = np.ascontiguousarray(vp.preprocess(img, height=h, width=w)[0].numpy())
    save_file(dict(sorted(out.items())), os.path.join(d, "video.safetensors"),
              metadata={"pillow": Image.__version__, "numpy": np.__version__})
