"""Out-painting backends: fill a canvas around a photo so the photo's frame sits in a wider scene.

* ``classical`` (default; no weights, fast on a CPU): the surroundings continue the photo by
  reflection across its edges, warped by a smooth random displacement that grows with the
  distance from the frame (so the mirror symmetry fades), blurred progressively with distance,
  with a slow colour drift, and re-grained to the photo's own noise level. At the frame's edge the
  fill equals the photo (no blur, no warp), so the seam carries no step in colour or sharpness.
* ``smear``, ``inpaint``, ``foreign``: further classical fills (edge replication dissolving into
  blur; OpenCV Telea in-painting at low resolution; another photograph lightly blurred). With
  ``classical`` they are :data:`TRAINING_FILLS`, the fills the learned scorer's box sets draw from.
* ``diffusers``: Stable-Diffusion in-painting (``StableDiffusionInpaintPipeline``, a ControlNet
  in-painting pipeline, or any in-painting pipeline ``AutoPipelineForInpainting`` loads) from a
  local folder (or a hub id already in the local Hugging Face cache: nothing is downloaded), on
  CUDA when available, prompted with the photo's composition description; the original pixels are
  pasted back exactly. A hub id not in the cache fails with a clear message.

A backend is ``fill(photo, spec, rng, prompt) -> canvas`` with ``photo`` and ``canvas`` RGB uint8.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import cv2
import numpy as np

from ..errors import UsageError, require
from ..perception.saliency import gaussian_blur
from .canvas import CanvasSpec


class Outpainter(Protocol):
    name: str

    def fill(self, photo: np.ndarray, spec: CanvasSpec, rng: np.random.Generator, prompt: str = "") -> np.ndarray:
        ...


def distance_outside(spec: CanvasSpec) -> np.ndarray:
    """``(H, W)`` float32 distance in pixels from each canvas pixel to the photo's frame (0 inside)."""
    x, y, w, h = spec.frame
    xs = np.arange(spec.width, dtype=np.float32)
    ys = np.arange(spec.height, dtype=np.float32)
    dx = np.maximum(np.maximum(x - xs, xs - (x + w - 1)), 0)
    dy = np.maximum(np.maximum(y - ys, ys - (y + h - 1)), 0)
    return np.sqrt(dy[:, None] ** 2 + dx[None, :] ** 2)


def smooth_field(shape: tuple[int, int], rng: np.random.Generator, cells: int = 6, channels: int = 1) -> np.ndarray:
    """A smooth random field in [-1, 1] (bicubic upsampling of coarse noise), ``(H, W, C)``."""
    H, W = shape
    coarse = rng.uniform(-1, 1, (cells + 1, cells + 1, channels)).astype(np.float32)
    up = cv2.resize(coarse, (W, H), interpolation=cv2.INTER_CUBIC)
    return np.clip(up.reshape(H, W, channels), -1, 1)


def trim_scan_border(photo: np.ndarray, max_px: int = 6, factor: float = 5.0) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Remove thin border lines left by scanning or resizing: up to ``max_px`` rows/columns at an
    edge, cut where the step between two lines is ``factor`` times the typical step of the next
    lines further in. Out-painted context would otherwise start after a line no real scene has,
    and the seam would give the frame away. Returns the trimmed photo and the pixels removed
    ``(left, top, right, bottom)``."""
    g = photo.astype(np.float32).mean(axis=2)
    h, w = g.shape
    if min(h, w) < 10 * max_px:
        return photo, (0, 0, 0, 0)
    col_step = np.abs(np.diff(g, axis=1)).mean(axis=0)  # step between column i and i+1
    row_step = np.abs(np.diff(g, axis=0)).mean(axis=1)

    def cut(steps_inward: np.ndarray) -> int:
        # steps_inward[j]: step between the j-th and (j+1)-th line from the edge
        typical = float(np.median(steps_inward[max_px + 1 : 3 * max_px + 1])) + 0.5
        hits = [j + 1 for j in range(max_px) if steps_inward[j] > factor * typical]
        return max(hits) if hits else 0

    left = cut(col_step)
    right = cut(col_step[::-1])
    top = cut(row_step)
    bottom = cut(row_step[::-1])
    return photo[top : h - bottom, left : w - right], (left, top, right, bottom)


def noise_level(photo: np.ndarray) -> float:
    """Robust estimate of the photo's pixel noise (median absolute deviation of a high-pass)."""
    g = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY).astype(np.float32)
    hp = g - cv2.GaussianBlur(g, (0, 0), 1.0)
    return float(1.4826 * np.median(np.abs(hp - np.median(hp))))


class ClassicalOutpainter:
    """See the module docstring. ``warp`` and ``blur`` set how fast the continuation dissolves."""

    name = "classical"

    def __init__(self, warp: float = 0.12, blur: float = 0.02, colour_drift: float = 0.08) -> None:
        self.warp = warp
        self.blur = blur
        self.colour_drift = colour_drift

    def fill(self, photo: np.ndarray, spec: CanvasSpec, rng: np.random.Generator, prompt: str = "") -> np.ndarray:
        x0, y0, w, h = spec.frame
        W, H = spec.width, spec.height
        check_frame(photo, spec)
        d = distance_outside(spec)
        size = float(min(w, h))
        ramp = np.clip(d / (0.25 * size), 0, 1) ** 1.5  # 0 at the frame, 1 a quarter photo away
        disp = smooth_field((H, W), rng, cells=5, channels=2) * (self.warp * size)
        xs, ys = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
        map_x = xs - x0 + disp[:, :, 0] * ramp
        map_y = ys - y0 + disp[:, :, 1] * ramp
        mirrored = cv2.remap(photo, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        # progressive blur: blend sharper and blurrier versions by distance
        out = mirrored.astype(np.float32)
        sigmas = [self.blur * size * f for f in (0.5, 1.0, 2.0)]
        levels = [out] + [gaussian_blur(out, s) for s in sigmas]
        # the first few percent beyond the edge stay as sharp as the photo, then detail fades
        t = np.clip((d - 0.06 * size) / (0.5 * size), 0, 1) * (len(levels) - 1)
        result = np.zeros_like(out)
        for i in range(len(levels)):
            weight = np.clip(1 - np.abs(t - i), 0, 1)[:, :, None]
            result += weight * levels[i]
        # slow colour drift and a little darkening far out
        drift = 1 + self.colour_drift * smooth_field((H, W), rng, cells=3, channels=3) * ramp[:, :, None]
        result *= drift * (1 - 0.08 * ramp[:, :, None])
        # grain: put back the noise that blurring removed
        sigma_n = noise_level(photo)
        grain = rng.normal(0, 1, (H, W, 1)).astype(np.float32) * sigma_n * np.clip(t / (len(levels) - 1) * 1.5, 0, 1)[:, :, None]
        result += grain
        canvas = np.clip(result, 0, 255).astype(np.uint8)
        canvas[y0 : y0 + h, x0 : x0 + w] = photo
        return canvas


class DiffusersOutpainter:
    """Stable-Diffusion in-painting from a local pipeline folder or a cached hub id (see the module doc).

    Args:
        model: folder (or hub id in the local cache) of an in-painting pipeline.
        steps, guidance: diffusion steps and classifier-free guidance.
        max_side: the canvas is processed at most this large (multiple of 8), then upscaled; the
            photo itself is pasted back at full resolution.
    """

    name = "diffusers"

    def __init__(self, model: str, device: str | None = None, steps: int = 30, guidance: float = 7.5,
                 max_side: int = 768, negative_prompt: str = "frame, border, text, watermark, blurry") -> None:
        from ..pretrained import from_pretrained

        torch = require("torch", "the diffusers out-painting backend", "diffusers")
        diffusers = require("diffusers", "the diffusers out-painting backend", "diffusers")
        pipe = from_pretrained(diffusers.AutoPipelineForInpainting.from_pretrained, model, "the in-painting pipeline")
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.pipe = pipe.to(self.device)
        if hasattr(self.pipe, "set_progress_bar_config"):
            self.pipe.set_progress_bar_config(disable=True)
        self.torch = torch
        self.steps = steps
        self.guidance = guidance
        self.max_side = max_side
        self.negative_prompt = negative_prompt

    def fill(self, photo: np.ndarray, spec: CanvasSpec, rng: np.random.Generator, prompt: str = "") -> np.ndarray:
        from PIL import Image

        x0, y0, w, h = spec.frame
        W, H = spec.width, spec.height
        k = min(1.0, self.max_side / max(W, H))
        sw, sh = max(8, int(W * k) // 8 * 8), max(8, int(H * k) // 8 * 8)
        # start from the classical fill so the model sees plausible colours under the mask
        init = ClassicalOutpainter().fill(photo, spec, rng)
        mask = np.full((H, W), 255, np.uint8)
        mask[y0 : y0 + h, x0 : x0 + w] = 0
        generator = self.torch.Generator(device="cpu").manual_seed(int(rng.integers(0, 2**31 - 1)))
        image = Image.fromarray(init).resize((sw, sh), Image.Resampling.LANCZOS)
        mask_image = Image.fromarray(mask).resize((sw, sh), Image.Resampling.NEAREST)
        extra = {}
        if getattr(self.pipe, "controlnet", None) is not None:
            # ControlNet-inpaint: the condition is the image with the pixels to fill set to -1
            cond = np.asarray(image, np.float32) / 255.0
            cond[np.asarray(mask_image) > 127] = -1.0
            extra["control_image"] = self.torch.from_numpy(cond.transpose(2, 0, 1)[None].copy())
        result = self.pipe(
            prompt=prompt or "a professional photograph",
            negative_prompt=self.negative_prompt,
            image=image,
            mask_image=mask_image,
            width=sw,
            height=sh,
            num_inference_steps=self.steps,
            guidance_scale=self.guidance,
            generator=generator,
            **extra,
        ).images[0]
        canvas = np.asarray(result.convert("RGB").resize((W, H), Image.Resampling.LANCZOS)).copy()
        canvas[y0 : y0 + h, x0 : x0 + w] = photo
        return canvas


def check_frame(photo: np.ndarray, spec: CanvasSpec) -> None:
    """Raise :class:`UsageError` unless ``photo`` has exactly the size of ``spec``'s frame."""
    w, h = spec.frame[2:]
    if photo.shape[:2] != (h, w):
        raise UsageError(f"photo is {photo.shape[1]}x{photo.shape[0]}, the frame is {w}x{h}")


def _regrain(canvas: np.ndarray, photo: np.ndarray, spec: CanvasSpec, rng: np.random.Generator) -> np.ndarray:
    """Add the photo's own noise level outside the frame and paste the photo back exactly."""
    x0, y0, w, h = spec.frame
    grain = rng.normal(0, noise_level(photo), canvas.shape[:2] + (1,)).astype(np.float32)
    out = np.clip(canvas.astype(np.float32) + grain, 0, 255).astype(np.uint8)
    out[y0 : y0 + h, x0 : x0 + w] = photo
    return out


class SmearOutpainter:
    """The photo's edge rows and columns stretched outward (edge replication), softened with
    distance by a growing blur, then re-grained: the look of a "content-aware" extension that
    ran out of ideas. A training fill (the benchmark's fills are different)."""

    name = "smear"

    def fill(self, photo: np.ndarray, spec: CanvasSpec, rng: np.random.Generator, prompt: str = "") -> np.ndarray:
        check_frame(photo, spec)
        x0, y0, w, h = spec.frame
        pad = ((y0, spec.height - h - y0), (x0, spec.width - w - x0), (0, 0))
        ext = np.pad(photo, pad, mode="edge").astype(np.float32)
        size = float(min(w, h))
        d = np.clip(distance_outside(spec) / (0.3 * size), 0, 1)[:, :, None]
        blurred = gaussian_blur(ext, float(rng.uniform(0.01, 0.04)) * size)
        return _regrain(ext * (1 - d) + blurred * d, photo, spec, rng)


class InpaintOutpainter:
    """OpenCV's Telea in-painting of the margin at a reduced size (fast), upscaled and re-grained:
    smooth, colour-continuous surroundings. A training fill."""

    name = "inpaint"

    def fill(self, photo: np.ndarray, spec: CanvasSpec, rng: np.random.Generator, prompt: str = "") -> np.ndarray:
        check_frame(photo, spec)
        x0, y0, w, h = spec.frame
        W, H = spec.width, spec.height
        k = min(1.0, 96 / max(W, H))
        sw, sh = max(8, round(W * k)), max(8, round(H * k))
        small = np.zeros((sh, sw, 3), np.uint8)
        mask = np.full((sh, sw), 255, np.uint8)
        fx0, fy0 = round(x0 * k), round(y0 * k)
        fw, fh = max(1, min(sw - fx0, round(w * k))), max(1, min(sh - fy0, round(h * k)))
        small[fy0 : fy0 + fh, fx0 : fx0 + fw] = cv2.resize(photo, (fw, fh), interpolation=cv2.INTER_AREA)
        mask[fy0 : fy0 + fh, fx0 : fx0 + fw] = 0
        filled = cv2.inpaint(small, mask, 5, cv2.INPAINT_TELEA)
        big = cv2.resize(filled, (W, H), interpolation=cv2.INTER_CUBIC).astype(np.float32)
        return _regrain(big, photo, spec, rng)


class ForeignOutpainter:
    """Another photograph (from ``pool``, RGB arrays) scaled to cover the canvas, mildly blurred
    and shifted towards the photo's mean colour: real scene texture around the frame that does
    not continue it, so only the frame's own composition tells where it is. A training fill."""

    name = "foreign"

    def __init__(self, pool: list[np.ndarray] | None = None) -> None:
        self.pool = pool or []

    def fill(self, photo: np.ndarray, spec: CanvasSpec, rng: np.random.Generator, prompt: str = "") -> np.ndarray:
        check_frame(photo, spec)
        W, H = spec.width, spec.height
        other = self.pool[int(rng.integers(len(self.pool)))] if self.pool else photo[:, ::-1]
        oh, ow = other.shape[:2]
        k = max(W / ow, H / oh)
        big = cv2.resize(other, (int(np.ceil(ow * k)), int(np.ceil(oh * k))), interpolation=cv2.INTER_LINEAR)
        oy, ox = (big.shape[0] - H) // 2, (big.shape[1] - W) // 2
        out = gaussian_blur(big[oy : oy + H, ox : ox + W].astype(np.float32), float(rng.uniform(0.002, 0.012)) * max(W, H))
        shift = photo.reshape(-1, 3).mean(axis=0) - out.reshape(-1, 3).mean(axis=0)
        out += float(rng.uniform(0.3, 0.8)) * shift[None, None, :]
        return _regrain(out, photo, spec, rng)


#: The fills weak-label training sets draw from (``procrop.training.scorer.boxsets``); the recovery
#: benchmark's fills (``benchmarks/recovery.py``) are none of these.
TRAINING_FILLS: tuple[str, ...] = ("classical", "smear", "inpaint", "foreign")


BackendFactory = Callable[..., Any]
BACKENDS: dict[str, BackendFactory] = {
    "classical": ClassicalOutpainter, "smear": SmearOutpainter, "inpaint": InpaintOutpainter,
    "foreign": ForeignOutpainter, "diffusers": DiffusersOutpainter,
}


def create_outpainter(name: str, **kwargs: Any) -> Outpainter:
    try:
        factory = BACKENDS[name]
    except KeyError:
        raise UsageError(f"unknown out-painting backend {name!r}; use one of {', '.join(BACKENDS)}") from None
    if name == "diffusers" and not kwargs.get("model"):
        raise UsageError("the diffusers backend needs --model (a local in-painting pipeline folder)")
    return factory(**kwargs)
