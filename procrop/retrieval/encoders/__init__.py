"""Reference encoders: a registry of encoder families (layout, SAM, CLIP, DINOv2), one module each."""

from .layout import *  # noqa: F401,F403
