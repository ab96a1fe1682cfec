"""Saliency and edge maps: spectral residual, frequency-tuned and centre-surround colour contrast,
a sharpness cue, detections painted in, and the edge map the boundary term reads."""

from __future__ import annotations

import math

import cv2
import numpy as np




def map_size(width: int, height: int, side: int) -> tuple[int, int]:
    k = side / max(width, height)
    return max(8, int(round(width * k))), max(8, int(round(height * k)))


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; wide kernels run on a downsampled copy (the same to the eye, much faster)."""
    if sigma < 3:
        return cv2.GaussianBlur(img, (0, 0), sigma)
    k = max(1, int(sigma // 2))
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / k)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def normalise(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    if hi - lo < 1e-12:
        return np.zeros_like(a, dtype=np.float32)
    return ((a - lo) / (hi - lo)).astype(np.float32)


def spectral_residual(gray: np.ndarray, size: int = 64) -> np.ndarray:
    """Spectral-residual saliency (Hou and Zhang 2007) of a grey image at ``size x size``.

    Returns a ``(size, size)`` map in [0, 1].
    """
    g = cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    spec = np.fft.fft2(g)
    log_amp = np.log(np.abs(spec) + 1e-8)
    phase = np.angle(spec)
    residual = log_amp - cv2.blur(log_amp, (3, 3), borderType=cv2.BORDER_REFLECT)
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * phase))) ** 2
    sal = cv2.GaussianBlur(sal.astype(np.float32), (0, 0), size / 24)
    return normalise(sal)


def saliency_cues(lab: np.ndarray, gray_work: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Stack of four cue maps ``(4, mh, mw)`` in [0, 1]: spectral, frequency-tuned, centre-surround,
    sharpness."""
    mw, mh = size
    diag = math.hypot(mw, mh)
    # 1. spectral residual on luminance
    sr = cv2.resize(spectral_residual(lab[:, :, 0]), (mw, mh), interpolation=cv2.INTER_LINEAR)
    # 2. frequency-tuned: distance of the slightly blurred Lab image from the mean colour
    blur = cv2.GaussianBlur(lab, (0, 0), 1.0)
    mean = lab.reshape(-1, 3).mean(axis=0)
    ft = np.sqrt(((blur - mean) ** 2).sum(axis=2))
    ft = normalise(cv2.GaussianBlur(ft, (0, 0), diag / 80))
    # 3. centre-surround: difference of Gaussians in Lab at three scales
    cs = np.zeros((mh, mw), np.float32)
    for centre in (diag / 100, diag / 50, diag / 25):
        c = cv2.GaussianBlur(lab, (0, 0), centre)
        s = gaussian_blur(lab, centre * 4)
        cs += np.sqrt(((c - s) ** 2).sum(axis=2))
    cs = normalise(cs)
    # 4. sharpness: local Laplacian energy, telling in-focus subjects from bokeh
    lap = np.abs(cv2.Laplacian(gray_work.astype(np.float32), cv2.CV_32F, ksize=3))
    energy = cv2.resize(lap, (mw, mh), interpolation=cv2.INTER_AREA)
    energy = cv2.GaussianBlur(energy, (0, 0), diag / 60)
    hi = float(np.percentile(energy, 99)) + 1e-6
    sharp = np.clip(energy / hi, 0, 1)
    # sharpness only tells subjects apart when part of the frame is soft
    spread = float(np.percentile(sharp, 90) - np.percentile(sharp, 20))
    sharp = sharp * min(1.0, 1.5 * spread)
    return np.stack([sr, ft, cs, sharp.astype(np.float32)])


def paint_box(sal: np.ndarray, box: tuple[float, float, float, float], sx: float, sy: float, value: float) -> None:
    x, y, w, h = box
    mh, mw = sal.shape
    x0, x1 = int(max(0, math.floor(x * sx))), int(min(mw, math.ceil((x + w) * sx)))
    y0, y1 = int(max(0, math.floor(y * sy))), int(min(mh, math.ceil((y + h) * sy)))
    if x1 > x0 and y1 > y0:
        region = sal[y0:y1, x0:x1]
        np.maximum(region, value, out=region)


def edge_map(lum: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(lum, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(lum, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.sqrt(gx * gx + gy * gy)
    hi = float(np.percentile(mag, 98)) + 1e-6
    return np.clip(mag / hi, 0, 1).astype(np.float32)


