"""2-D convolution and pooling (NCHW images, (F, C, KH, KW) kernels)."""

from __future__ import annotations

__all__: list[str] = []
