"""uint8 frame stacks to the float32, channels-last input of a conv torso, in one pass on the CPU.

Why: torch does this as three passes (a uint8 transpose to channels-last, a float copy, a division),
~0.95 ms for an Atari batch of 32 stacks of four 84x84 frames; the compiled pass below takes ~0.25 ms
and gives the same floats bit for bit (v / 255 correctly rounded, as torch's division). A DQN update
converts two such batches (s and s').
"""

from __future__ import annotations

import numba
import numpy as np
import torch


@numba.njit(cache=True)
def _four_planes_to_nhwc(src: np.ndarray, out: np.ndarray) -> None:
    """src (N, 4, H, W) uint8 → out (N, H, W*4) float32, each value / 255. The four planes are written
    interleaved by explicit stores, which LLVM vectorizes; a loop over the channel count does not."""
    n, _, h, w = src.shape
    scale = np.float32(255.0)
    for b in range(n):
        for y in range(h):
            p0, p1, p2, p3 = src[b, 0, y], src[b, 1, y], src[b, 2, y], src[b, 3, y]
            row = out[b, y]
            for x in range(w):
                row[4 * x] = np.float32(p0[x]) / scale
                row[4 * x + 1] = np.float32(p1[x]) / scale
                row[4 * x + 2] = np.float32(p2[x]) / scale
                row[4 * x + 3] = np.float32(p3[x]) / scale


def scaled_channels_last(x: torch.Tensor) -> torch.Tensor:
    """Observations as float32, uint8 frames scaled to [0, 1]; a (N, C, H, W) batch in channels-last
    memory, converted on the uint8 frames (the cheapest place) where the compiled pass does not apply."""
    if x.dim() == 4 and x.dtype == torch.uint8 and x.device.type == "cpu" and x.shape[1] == 4 and x.is_contiguous():
        n, c, h, w = x.shape
        out = torch.empty((n, h, w * c), dtype=torch.float32)
        _four_planes_to_nhwc(x.numpy(), out.numpy())
        return out.view(n, h, w, c).permute(0, 3, 1, 2)
    if x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()  # in place on the new copy
