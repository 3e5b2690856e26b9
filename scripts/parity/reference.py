#!/usr/bin/env python3
"""Reference side of doppel's embedding parity check (scripts/parity/run.sh).

Runs inside a Debian 13 chroot with Debian's python3-pil (Pillow 11.1, libjpeg-turbo 2.1.5), python3-numpy and
python3-onnxruntime. It implements each doppel preset the way the framework does it, with Pillow + numpy only:

  keras-caffe     keras.utils.load_img(path, target_size=(224, 224))  (PIL open, convert('RGB') if needed,
                  resize((224, 224), NEAREST) if the size differs), img_to_array (float32), then
                  keras.applications.imagenet_utils.preprocess_input(mode="caffe"): x[..., ::-1], x[..., c] -= mean[c]
                  with mean = [103.939, 116.779, 123.68] (BGR), NHWC
  keras-tf        the same load_img, then preprocess_input(mode="tf"): x /= 127.5; x -= 1.0, NHWC
  torch-imagenet  torchvision Resize(256) (shorter side to 256, long side int(256 * long / short), PIL BILINEAR,
                  which Pillow antialiases), CenterCrop(224) (top = int(round((H - 224) / 2.0)), left likewise),
                  ToTensor (uint8 -> float32, / 255), Normalize(ImageNet mean, std) in float32, NCHW
  clip            openai/CLIP _transform(224): Resize(224, BICUBIC), CenterCrop(224), convert('RGB'), ToTensor,
                  Normalize(CLIP mean, std), NCHW

torch's float32 ops (div by 255, sub mean, div std) are single correctly-rounded IEEE operations, so numpy float32
arithmetic gives the same bits.

Subcommands:
  prepare         pick the candidate images usable for parity (no alpha, no EXIF rotation), make the extra test
                  images (odd sizes, crop rounding, grey/palette PNGs, Pillow-written JPEGs, noise), write a list
  identity-model  write an ONNX model whose output is its input, flattened: with it `doppel embed --no-normalize`
                  prints doppel's preprocessed input tensor, which is how the pixel-level check reads it
  embed           reference vectors (JSON lines like `doppel embed`) and the reference input tensors (.npy)
  compare         compare doppel's output with the reference: vectors (cosine, max abs diff) or tensors (exact
                  equality, and the pixel values recovered from the tensors)
  report          the per-preset table of all compare results; exit 1 if a check failed
"""
import argparse
import json
import math
import os
import shutil
import sys

import numpy as np
from PIL import Image

PRESETS = ("keras-caffe", "keras-tf", "torch-imagenet", "clip")
LAYOUT = {"keras-caffe": "nhwc", "keras-tf": "nhwc", "torch-imagenet": "nchw", "clip": "nchw"}
COSINE_MIN = 0.9999

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
CAFFE_MEAN = [103.939, 116.779, 123.68]


# ----------------------------------------------------------------------------------------------- preprocessing
# The control: the same pipeline with the wrong filter, a realistic mistake, to show how far such a mistake moves
# the vectors of these (random-weight) models compared with the 0.9999 threshold.
CONTROL_FILTER = {"keras-caffe": ("bilinear", Image.BILINEAR), "keras-tf": ("bilinear", Image.BILINEAR),
                  "torch-imagenet": ("bicubic", Image.BICUBIC), "clip": ("bilinear", Image.BILINEAR)}


def keras_load_img(path, target_size=(224, 224), resample=Image.NEAREST):
    """keras.utils.load_img(path, color_mode="rgb", target_size, interpolation="nearest", keep_aspect_ratio=False)."""
    with open(path, "rb") as f:
        import io
        img = Image.open(io.BytesIO(f.read()))
    if img.mode != "RGB":
        img = img.convert("RGB")
    width_height_tuple = (target_size[1], target_size[0])
    if img.size != width_height_tuple:
        img = img.resize(width_height_tuple, resample)
    return img


def keras_preprocess_input(x, mode):
    """keras.applications.imagenet_utils._preprocess_numpy_input, channels_last."""
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    # caffe
    x = x[..., ::-1]
    mean = CAFFE_MEAN
    x[..., 0] -= mean[0]
    x[..., 1] -= mean[1]
    x[..., 2] -= mean[2]
    return x


def tv_resize_shorter(img, size, resample):
    """torchvision.transforms.functional.resize(pil_img, size: int) (antialias is implicit for PIL)."""
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_w, new_h) == (w, h):
        return img
    return img.resize((new_w, new_h), resample)


def tv_center_crop(img, size):
    """torchvision.transforms.functional.center_crop for a PIL image at least `size` on each side."""
    w, h = img.size
    if w < size or h < size:
        raise ValueError("image smaller than the crop: %dx%d" % (w, h))  # cannot happen after the resize
    crop_top = int(round((h - size) / 2.0))
    crop_left = int(round((w - size) / 2.0))
    return img.crop((crop_left, crop_top, crop_left + size, crop_top + size))


def tv_to_tensor_normalize(img, mean, std):
    """ToTensor (uint8 HWC -> float32 CHW / 255) + Normalize (sub mean, div std), float32 like torch."""
    a = np.array(img, dtype=np.uint8, copy=True)
    t = a.transpose(2, 0, 1).astype(np.float32) / np.float32(255)
    m = np.asarray(mean, dtype=np.float32)[:, None, None]
    s = np.asarray(std, dtype=np.float32)[:, None, None]
    return (t - m) / s


def open_rgb(path):
    img = Image.open(path)
    img.load()
    return img


def preprocess(path, preset, control=False):
    """The model input tensor (float32, no batch dim) and the decoded size (width, height). control: the same with
    CONTROL_FILTER[preset] instead of the framework's filter."""
    wrong = CONTROL_FILTER[preset][1] if control else None
    if preset in ("keras-caffe", "keras-tf"):
        with Image.open(path) as probe:
            size = probe.size
        img = keras_load_img(path, resample=wrong if control else Image.NEAREST)
        x = np.asarray(img, dtype=np.float32).copy()  # img_to_array (asarray; copy so it is writable)
        x = keras_preprocess_input(x, "caffe" if preset == "keras-caffe" else "tf")
        return np.ascontiguousarray(x, dtype=np.float32), size
    img = open_rgb(path)
    size = img.size
    if preset == "torch-imagenet":
        if img.mode != "RGB":  # torchvision's default_loader / pil_loader: img.convert('RGB')
            img = img.convert("RGB")
        img = tv_resize_shorter(img, 256, wrong if control else Image.BILINEAR)
        img = tv_center_crop(img, 224)
        return tv_to_tensor_normalize(img, IMAGENET_MEAN, IMAGENET_STD), size
    if preset == "clip":
        # CLIP's preprocess: Resize, CenterCrop, _convert_image_to_rgb, ToTensor, Normalize. Resizing a non-RGB
        # image first would differ (e.g. palette images resize NEAREST); CLIP users open with Image.open, and the
        # HF/clip loaders convert to RGB before; doppel converts at decode. Convert first, as every loader does.
        if img.mode != "RGB":
            img = img.convert("RGB")
        img = tv_resize_shorter(img, 224, wrong if control else Image.BICUBIC)
        img = tv_center_crop(img, 224)
        return tv_to_tensor_normalize(img, CLIP_MEAN, CLIP_STD), size
    raise ValueError("unknown preset " + preset)


def value_lut(preset):
    """lut[c, p]: the tensor value of pixel value p in output channel c (float32), as the reference computes it."""
    p = np.arange(256, dtype=np.float32)
    lut = np.empty((3, 256), dtype=np.float32)
    for c in range(3):
        if preset == "keras-caffe":
            lut[c] = p - np.float32(CAFFE_MEAN[c])
        elif preset == "keras-tf":
            lut[c] = p / np.float32(127.5) - np.float32(1.0)
        else:
            mean, std = (IMAGENET_MEAN, IMAGENET_STD) if preset == "torch-imagenet" else (CLIP_MEAN, CLIP_STD)
            lut[c] = (p / np.float32(255) - np.float32(mean[c])) / np.float32(std[c])
    return lut


def tensor_to_pixels(t, preset):
    """Recovers the uint8 RGB image (224x224x3) from a tensor of `preset`; -1 where a value is no LUT entry."""
    lut = value_lut(preset)
    chw = t.reshape(224, 224, 3).transpose(2, 0, 1) if LAYOUT[preset] == "nhwc" else t.reshape(3, 224, 224)
    out = np.empty((3, 224, 224), dtype=np.int16)
    for c in range(3):
        order = np.argsort(lut[c], kind="stable")
        sorted_vals = lut[c][order]
        idx = np.clip(np.searchsorted(sorted_vals, chw[c]), 0, 255)
        hit = sorted_vals[idx] == chw[c]
        out[c] = np.where(hit, order[idx], -1)
    if preset == "keras-caffe":  # tensor channels are B, G, R
        out = out[::-1]
    return out.transpose(1, 2, 0)


# ----------------------------------------------------------------------------------------------- test images
def make_extra_images(src_dir, out_dir):
    """Extra images that exercise odd sizes, crop rounding, up-scaling, grey/palette PNGs and Pillow's JPEG writer.
    Deterministic: made from fixed photos of the candidates and a seeded noise image. Returns the file names."""
    # Three photos of opencv-doc; with another --images folder, its three largest colour images.
    wanted = ["baboon.jpg", "fruits.jpg", "starry_night.jpg"]  # 512x512 (fine detail), 512x480, 752x600
    if not all(os.path.exists(os.path.join(src_dir, n)) for n in wanted):
        colour = []
        for n in sorted(os.listdir(src_dir)):
            try:
                with Image.open(os.path.join(src_dir, n)) as im:
                    if im.mode == "RGB":
                        colour.append((-im.size[0] * im.size[1], n))
            except Exception:  # noqa: BLE001
                pass
        if len(colour) < 3:
            raise SystemExit("parity: need 3 RGB images in %s to make the extra test images" % src_dir)
        wanted = [n for _, n in sorted(colour)[:3]]
    baboon, fruits, starry = (Image.open(os.path.join(src_dir, n)).convert("RGB") for n in wanted)
    made = []

    def save(img, name, **kw):
        img.save(os.path.join(out_dir, name), **kw)
        made.append(name)

    # (source, width, height): crop rounding of torch (256 shorter side, crop 224) and CLIP (224, crop 224).
    sizes = [
        (baboon, 225, 225),    # keras: NEAREST 225 -> 224; torch: 256x256; clip: 224x224 (no crop)
        (baboon, 257, 385),    # torch: 256x383, crop top round(159/2 = 79.5) = 80 (half to even)
        (fruits, 385, 257),    # the same, landscape: crop left 80
        (starry, 333, 217),    # torch: 392x256 crop left 84; clip: 343x224 crop left round(59.5) = 60
        (fruits, 300, 225),    # clip: 298x224, crop left 37
        (baboon, 223, 223),    # every preset up-scales
        (starry, 101, 77),     # small: strong up-scaling; torch: 335x256, clip: 293x224 crop left round(34.5)=34
        (fruits, 1001, 667),   # torch: 384x256 (int(256*1001/667) = 384.19 -> 384) crop left 80
        (baboon, 224, 224),    # keras/clip: no resize at all
        (starry, 256, 256),    # torch: no resize, crop 16
        (baboon, 255, 256),    # torch: 256x256 from 255 wide (upscale 1 px)
        (starry, 231, 900),    # tall: torch 256x997 crop top round(773/2 = 386.5) = 386
        (starry, 900, 231),    # wide
        (fruits, 481, 641),    # odd both
        (baboon, 3, 500),      # extreme aspect: long side int(256*500/3)
    ]
    for src, w, h in sizes:
        img = src.resize((w, h), Image.LANCZOS)
        save(img, "gen_%dx%d.png" % (w, h))
    save(fruits.resize((301, 199), Image.LANCZOS).convert("L"), "gen_grey_301x199.png")
    save(starry.resize((299, 211), Image.LANCZOS).quantize(colors=200), "gen_palette_299x211.png")
    save(baboon.resize((301, 203), Image.LANCZOS), "gen_q90_420_301x203.jpg", quality=90)
    save(fruits.resize((333, 217), Image.LANCZOS), "gen_q95_444_333x217.jpg", quality=95, subsampling=0)
    save(starry.resize((255, 257), Image.LANCZOS), "gen_q75_prog_255x257.jpg", quality=75, progressive=True)
    save(fruits.resize((321, 241), Image.LANCZOS).convert("L"), "gen_grey_q85_321x241.jpg", quality=85)
    rng = np.random.default_rng(20240601)
    save(Image.fromarray(rng.integers(0, 256, size=(241, 321, 3), dtype=np.uint8), "RGB"), "gen_noise_321x241.png")
    save(Image.fromarray(rng.integers(0, 256, size=(480, 640, 3), dtype=np.uint8), "RGB"), "gen_noise_640x480.png")
    return made


def usable(path):
    """(ok, reason): parity is defined on images without alpha and without EXIF rotation."""
    try:
        img = Image.open(path)
    except Exception as e:  # noqa: BLE001 - any unreadable file is just skipped
        return False, "unreadable: %s" % e
    if img.format not in ("JPEG", "PNG"):
        return False, "format %s" % img.format
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info:
        return False, "alpha (%s%s)" % (img.mode, ", transparency" if "transparency" in img.info else "")
    if img.mode not in ("RGB", "L", "P"):
        return False, "mode %s" % img.mode
    orientation = img.getexif().get(0x0112, 1)
    if orientation not in (0, 1):
        return False, "EXIF orientation %s" % orientation
    return True, "%s %s %dx%d" % (img.format, img.mode, img.size[0], img.size[1])


def cmd_prepare(a):
    os.makedirs(a.out, exist_ok=True)
    names, skipped = [], []
    for name in sorted(os.listdir(a.candidates)):
        ok, why = usable(os.path.join(a.candidates, name))
        if ok:
            shutil.copyfile(os.path.join(a.candidates, name), os.path.join(a.out, name))
            names.append(name)
        else:
            skipped.append((name, why))
    names += make_extra_images(a.candidates, a.out)
    with open(a.list, "w") as f:
        for n in names:
            f.write(n + "\n")
    kinds = {}
    for n in names:
        with Image.open(os.path.join(a.out, n)) as im:
            k = "%s %s" % (im.format, im.mode)
        kinds[k] = kinds.get(k, 0) + 1
    print("parity: %d images (%s); skipped %d: %s" % (
        len(names), ", ".join("%d %s" % (v, k) for k, v in sorted(kinds.items())), len(skipped),
        ", ".join("%s (%s)" % s for s in skipped)), file=sys.stderr)


# ----------------------------------------------------------------------------------------------- identity model
def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num, payload):  # length-delimited
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _int_field(num, value):
    return _varint(num << 3) + _varint(value)


def _value_info(name, dims):
    shape = b"".join(_field(1, _field(2, d.encode()) if isinstance(d, str) else _int_field(1, d)) for d in dims)
    tensor_type = _int_field(1, 1) + _field(2, shape)  # elem_type FLOAT, shape
    return _field(1, name.encode()) + _field(2, _field(1, tensor_type))


def identity_model_bytes(layout):
    """ONNX ModelProto (IR 8, opset 13): y = Flatten(x, axis=1). Hand-encoded protobuf: no onnx package needed."""
    dims = ["N", 224, 224, 3] if layout == "nhwc" else ["N", 3, 224, 224]
    attr = _field(1, b"axis") + _int_field(3, 1) + _int_field(20, 2)  # name, i, type INT
    node = _field(1, b"x") + _field(2, b"y") + _field(3, b"flatten") + _field(4, b"Flatten") + _field(5, attr)
    graph = (_field(1, node) + _field(2, b"parity_identity_" + layout.encode()) +
             _field(11, _value_info("x", dims)) + _field(12, _value_info("y", ["N", 224 * 224 * 3])))
    opset = _field(1, b"") + _int_field(2, 13)
    return _int_field(1, 8) + _field(2, b"doppel-parity") + _field(7, graph) + _field(8, opset)


def cmd_identity_model(a):
    data = identity_model_bytes(a.layout)
    with open(a.out, "wb") as f:
        f.write(data)
    # Check it with onnxruntime: output == flattened input.
    sess = make_session(a.out, 1)
    shape = (2, 224, 224, 3) if a.layout == "nhwc" else (2, 3, 224, 224)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    assert y.shape == (2, 224 * 224 * 3) and np.array_equal(y, x.reshape(2, -1)), "identity model is wrong"


# ----------------------------------------------------------------------------------------------- embeddings
def make_session(model, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    return ort.InferenceSession(model, sess_options=so, providers=["CPUExecutionProvider"])


def normalize(y):
    """L2-normalised, float32 like doppel's vectors."""
    norm = math.sqrt(float(np.dot(y, y)))
    return (y / norm if norm > 0 else y).astype(np.float32)


def cmd_embed(a):
    names = [n.strip() for n in open(a.list) if n.strip()]
    sess = make_session(a.model, a.threads)
    in_name = sess.get_inputs()[0].name
    out_name = a.output or sess.get_outputs()[0].name
    tensors = np.empty((len(names), 224 * 224 * 3), dtype=np.float32)
    with open(a.out, "w") as f:
        for i, n in enumerate(names):
            x, (w, h) = preprocess(os.path.join(a.images, n), a.preset)
            tensors[i] = x.reshape(-1)
            xc, _ = preprocess(os.path.join(a.images, n), a.preset, control=True)
            y, yc = sess.run([out_name], {in_name: np.stack([x, xc])})[0].reshape(2, -1).astype(np.float64)
            v, vc = normalize(y), normalize(yc)
            f.write(json.dumps({"path": n, "width": w, "height": h, "dim": int(v.size),
                                "vector": [float(t) for t in v],
                                "control_cosine": float(np.dot(v.astype(np.float64), vc))}) + "\n")
    np.save(a.tensors, tensors)


# ----------------------------------------------------------------------------------------------- comparison
def read_jsonl(path):
    with open(path) as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def cmd_compare(a):
    names = [n.strip() for n in open(a.list) if n.strip()]
    result = {"preset": a.preset, "kind": a.kind, "images": len(names), "failures": []}
    if a.kind == "vector":
        ref = {os.path.basename(r["path"]): r for r in read_jsonl(a.ref)}
        cos, maxabs, rows = [], 0.0, []
        for d in read_jsonl(a.doppel):
            n = os.path.basename(d["path"])
            if "error" in d:
                result["failures"].append({"image": n, "error": d["error"]})
                continue
            r = ref[n]
            u = np.asarray(d["vector"], dtype=np.float64)
            v = np.asarray(r["vector"], dtype=np.float64)
            c = float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))
            m = float(np.max(np.abs(u - v)))
            cos.append(c)
            maxabs = max(maxabs, m)
            rows.append((c, m, n, d["width"], d["height"]))
            if (d["width"], d["height"]) != (r["width"], r["height"]):
                result["failures"].append({"image": n, "error": "decoded size %dx%d, Pillow %dx%d" % (
                    d["width"], d["height"], r["width"], r["height"])})
            if c < COSINE_MIN:
                result["failures"].append({"image": n, "size": "%dx%d" % (r["width"], r["height"]), "cosine": c})
        # How discriminative these random-weight models are: the wrong-filter control, and the cosine of each
        # image's reference vector with its nearest other image.
        ctl = [r["control_cosine"] for r in ref.values()]
        result["control"] = CONTROL_FILTER[a.preset][0]
        result["control_min_cosine"], result["control_mean_cosine"] = min(ctl), sum(ctl) / len(ctl)
        result["control_below_threshold"] = sum(c < COSINE_MIN for c in ctl)
        mat = np.stack([np.asarray(r["vector"], dtype=np.float64) for r in ref.values()])
        mat /= np.linalg.norm(mat, axis=1, keepdims=True)
        sim = mat @ mat.T
        np.fill_diagonal(sim, -2)
        n_img = len(mat)
        result["other_image_mean_nearest_cosine"] = float(sim.max(axis=1).mean())
        result["other_image_mean_pair_cosine"] = float((sim.sum() + 2 * n_img) / (n_img * (n_img - 1)))
        result["compared"] = len(cos)
        result["missing"] = len(names) - len(cos)
        result["min_cosine"] = min(cos) if cos else None
        result["mean_cosine"] = sum(cos) / len(cos) if cos else None
        result["max_abs_diff"] = maxabs
        rows.sort()
        result["worst"] = [{"image": n, "size": "%dx%d" % (w, h), "cosine": c, "max_abs_diff": m}
                           for c, m, n, w, h in rows[:3]]
    else:
        ref = np.load(a.ref, mmap_mode="r")
        index = {n: i for i, n in enumerate(names)}
        identical, maxabs, compared, px_total, px_max, worst = 0, 0.0, 0, 0, 0, []
        for d in read_jsonl(a.doppel):
            n = os.path.basename(d["path"])
            if "error" in d:
                result["failures"].append({"image": n, "error": d["error"]})
                continue
            t = np.asarray(d["vector"], dtype=np.float32)
            r = np.asarray(ref[index[n]])
            compared += 1
            diff = np.abs(t.astype(np.float64) - r.astype(np.float64))
            m = float(diff.max())
            maxabs = max(maxabs, m)
            if np.array_equal(t, r):
                identical += 1
                continue
            pd = tensor_to_pixels(t, a.preset)
            pr = tensor_to_pixels(r, a.preset)
            unmapped = int((pd < 0).sum())
            # Pixel difference where both values map back to a pixel value; an unmapped value counts as differing.
            dp = np.where((pd >= 0) & (pr >= 0), np.abs(pd.astype(np.int32) - pr.astype(np.int32)), 0)
            bad = np.any((dp != 0) | (pd < 0) | (pr < 0), axis=2)
            n_px = int(bad.sum())
            px_total += n_px
            px_max = max(px_max, int(dp.max()))
            rows_bad = np.nonzero(bad.any(axis=1))[0]
            cols_bad = np.nonzero(bad.any(axis=0))[0]
            info = {"image": n, "size": "%dx%d" % (d["width"], d["height"]), "max_abs_diff": m,
                    "pixels_differing": n_px, "max_pixel_diff": int(dp.max()), "values_not_in_lut": unmapped,
                    "rows": _ranges(rows_bad), "cols": _ranges(cols_bad)}
            if a.dump:
                os.makedirs(a.dump, exist_ok=True)
                base = os.path.join(a.dump, "%s.%s" % (a.preset, n))
                Image.fromarray(np.clip(pd, 0, 255).astype(np.uint8)).save(base + ".doppel.png")
                Image.fromarray(np.clip(pr, 0, 255).astype(np.uint8)).save(base + ".reference.png")
                info["dumped"] = base + ".{doppel,reference}.png"
            worst.append(info)
        result["compared"] = compared
        result["missing"] = len(names) - compared
        result["identical"] = identical
        result["max_abs_diff"] = maxabs
        result["pixels_differing"] = px_total
        result["max_pixel_diff"] = px_max
        worst.sort(key=lambda i: -i["pixels_differing"])
        result["differing_images"] = worst
    # Vectors: every image embedded, same decoded size, cosine >= COSINE_MIN. Tensors: every image compared;
    # differing tensors fail only with --strict-tensors (the cosine decides whether the difference matters).
    result["ok"] = not result["failures"] and result["missing"] == 0 and (
        a.kind == "vector" or not a.strict_tensors or result["identical"] == result["images"])
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
    print(_line(result), file=sys.stderr)


def _ranges(idx):
    """[3,4,5,9] -> '3-5,9' (at most 12 ranges)."""
    out, start, prev = [], None, None
    for i in list(idx) + [None]:
        if start is None:
            start = prev = i
        elif i is not None and i == prev + 1:
            prev = i
        else:
            out.append(str(start) if start == prev else "%d-%d" % (start, prev))
            start = prev = i
    return ",".join(out[:12]) + (",..." if len(out) > 12 else "")


def _line(r):
    if r["kind"] == "vector":
        return "parity: %-15s vectors  %3d/%d images  min cos %.9f  mean cos %.9f  max |diff| %.3g  %s" % (
            r["preset"], r["compared"], r["images"], r["min_cosine"] or float("nan"),
            r["mean_cosine"] or float("nan"), r["max_abs_diff"], "ok" if r["ok"] else "FAIL")
    return "parity: %-15s tensors  %3d/%d images  identical %d  pixels differing %d  max pixel diff %d  " \
           "max |diff| %.3g" % (r["preset"], r["compared"], r["images"], r["identical"], r["pixels_differing"],
                                r["max_pixel_diff"], r["max_abs_diff"])


def cmd_report(a):
    results = [json.load(open(p)) for p in a.results]
    vec = {r["preset"]: r for r in results if r["kind"] == "vector"}
    ten = {r["preset"]: r for r in results if r["kind"] == "tensor"}
    print("| preset | model | images | min cosine | mean cosine | max abs diff | input tensor bit-identical "
          "| pixels differing (max diff) | result | control: wrong filter, min / mean cosine (images < 0.9999) "
          "| other images: mean cosine of nearest / of all pairs |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    ok = True
    for p in PRESETS:
        if p not in vec:
            continue
        v, t = vec[p], ten.get(p)
        model = "ResNet50 keras-nhwc" if LAYOUT[p] == "nhwc" else "ResNet50 zoo-nchw"
        tcell = "%d/%d" % (t["identical"], t["images"]) if t else "-"
        pcell = "%d (%d)" % (t["pixels_differing"], t["max_pixel_diff"]) if t else "-"
        print("| %s | %s | %d | %.9f | %.9f | %.3g | %s | %s | %s | %s: %.6f / %.6f (%d) | %.4f / %.4f |" % (
            p, model, v["compared"], v["min_cosine"], v["mean_cosine"], v["max_abs_diff"], tcell, pcell,
            "pass" if v["ok"] and (t is None or t["ok"]) else "FAIL", v["control"], v["control_min_cosine"],
            v["control_mean_cosine"], v["control_below_threshold"], v["other_image_mean_nearest_cosine"],
            v["other_image_mean_pair_cosine"]))
        ok = ok and v["ok"] and (t is None or t["ok"])
    for r in results:
        for f in r["failures"]:
            print("parity: FAIL %s %s: %s" % (r["preset"], r["kind"], json.dumps(f)), file=sys.stderr)
        for d in r.get("differing_images", [])[:10]:
            print("parity: %s input tensor differs: %s" % (r["preset"], json.dumps(d)), file=sys.stderr)
    sys.exit(0 if ok else 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--candidates", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--list", required=True)
    p = sub.add_parser("identity-model")
    p.add_argument("--layout", choices=("nhwc", "nchw"), required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("embed")
    p.add_argument("--model", required=True)
    p.add_argument("--preset", choices=PRESETS, required=True)
    p.add_argument("--output", default="")
    p.add_argument("--images", required=True)
    p.add_argument("--list", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--tensors", required=True)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p = sub.add_parser("compare")
    p.add_argument("--kind", choices=("vector", "tensor"), required=True)
    p.add_argument("--preset", choices=PRESETS, required=True)
    p.add_argument("--list", required=True)
    p.add_argument("--doppel", required=True)
    p.add_argument("--ref", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--dump", default="")
    p.add_argument("--strict-tensors", action="store_true")
    p = sub.add_parser("report")
    p.add_argument("results", nargs="+")
    a = ap.parse_args()
    {"prepare": cmd_prepare, "identity-model": cmd_identity_model, "embed": cmd_embed, "compare": cmd_compare,
     "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
