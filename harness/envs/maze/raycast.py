"""Batched ray casting on a wall grid: many first-person frames in one compiled call.

One kernel call renders every (environment, screen column) of a batch: a grid walk (DDA) per
column finds the first wall, the column is then ceiling, wall (brick texture, a tint per 2x2 block
of wall cells, darker faces along x, fog) and floor (a checkerboard of cells, so motion shows).
Objects are billboards drawn far to near with a per-column depth test against the walls.
Coordinates: x along columns, y along rows (downwards); heading 0 looks along +x and turning
right increases it. Walls are one unit high and the eye is at half height.

numba compiles the kernels once (cached on disk); everything else is plain numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

# object kinds (0 = empty slot)
NONE, APPLE, LEMON, GOAL = 0, 1, 2, 3

WALL_PALETTE = np.array([
    [150, 150, 160], [170, 110, 90], [90, 130, 170], [110, 160, 100],
    [175, 160, 95], [140, 100, 160], [95, 160, 155], [185, 130, 140],
], dtype=np.float32)

# per object kind: colour, world half-width, centre height, half-height, round (disc) or not (pillar)
SPRITE_COLOR = np.array([[0, 0, 0], [220, 40, 40], [235, 220, 50], [60, 240, 120]], dtype=np.float32)
SPRITE_HALF_WIDTH = np.array([0.0, 0.16, 0.2, 0.14], dtype=np.float32)
SPRITE_CENTER = np.array([0.0, 0.3, 0.3, 0.45], dtype=np.float32)
SPRITE_HALF_HEIGHT = np.array([0.0, 0.16, 0.13, 0.45], dtype=np.float32)
SPRITE_ROUND = np.array([False, True, True, False])

CEILING = np.array([80, 95, 125], dtype=np.float32)
FLOOR = np.array([120, 100, 80], dtype=np.float32)
EYE_HEIGHT = 0.5
FOG = 0.12  # brightness = 1 / (1 + FOG * distance)


@dataclass(frozen=True)
class Camera:
    """Pinhole camera with square pixels; ``fov_degrees`` is horizontal."""

    width: int = 84
    height: int = 84
    fov_degrees: float = 90.0

    @property
    def focal(self) -> float:
        """Pixels per unit of lateral or vertical offset at depth 1."""
        return (self.width / 2) / math.tan(math.radians(self.fov_degrees) / 2)

    def column_offsets(self) -> np.ndarray:
        """Camera-plane offset of each column's ray (the ray is forward + offset * right)."""
        return (np.arange(self.width, dtype=np.float64) + 0.5 - self.width / 2) / self.focal


@dataclass
class Hits:
    """Where each column's ray meets a wall; arrays are (envs, columns)."""

    distance: np.ndarray  # perpendicular (camera-plane) distance
    horizontal: np.ndarray  # True where the face hit runs along x (the ray crossed a row boundary)
    cell: np.ndarray  # flat index row * cols + col of the wall cell hit
    u: np.ndarray  # position along the face in [0, 1)


def wall_tints(walls: np.ndarray) -> np.ndarray:
    """Palette index per cell: one colour per 2x2 block, scrambled so neighbours differ."""
    r, c = np.indices(walls.shape[-2:])
    tints = ((r // 2) * 7 + (c // 2) * 13 + (r // 2) * (c // 2) * 5) % len(WALL_PALETTE)
    return np.broadcast_to(tints.astype(np.uint8), walls.shape).copy()


@numba.njit(cache=True, inline="always")
def _cast(walls: np.ndarray, e: int, px: float, py: float, rdx: float, rdy: float
          ) -> tuple[float, bool, int, int, float]:
    """Grid walk of one ray: (perpendicular distance, horizontal face, row, col, u)."""
    rows, cols = walls.shape[1], walls.shape[2]
    mx, my = int(math.floor(px)), int(math.floor(py))
    ddx = abs(1.0 / rdx) if rdx != 0.0 else 1e30
    ddy = abs(1.0 / rdy) if rdy != 0.0 else 1e30
    if rdx < 0:
        sx, side_x = -1, (px - mx) * ddx
    else:
        sx, side_x = 1, (mx + 1.0 - px) * ddx
    if rdy < 0:
        sy, side_y = -1, (py - my) * ddy
    else:
        sy, side_y = 1, (my + 1.0 - py) * ddy
    horizontal = False
    while True:
        if side_x < side_y:
            side_x += ddx
            mx += sx
            horizontal = False
        else:
            side_y += ddy
            my += sy
            horizontal = True
        if mx < 0 or my < 0 or mx >= cols or my >= rows or walls[e, my, mx]:
            break
    if horizontal:
        dist = side_y - ddy
        along = px + dist * rdx
    else:
        dist = side_x - ddx
        along = py + dist * rdy
    return dist, horizontal, my, mx, along - math.floor(along)


@numba.njit(cache=True)
def _cast_batch(walls, pos, heading, offsets, distance, horizontal, cell, u):  # pragma: no cover - compiled
    for e in range(walls.shape[0]):
        cos, sin = math.cos(heading[e]), math.sin(heading[e])
        for col in range(offsets.shape[0]):
            rdx = cos - sin * offsets[col]
            rdy = sin + cos * offsets[col]
            d, h, r, c, uu = _cast(walls, e, pos[e, 0], pos[e, 1], rdx, rdy)
            distance[e, col] = d
            horizontal[e, col] = h
            cell[e, col] = r * walls.shape[2] + c
            u[e, col] = uu


def cast_rays(walls: np.ndarray, pos: np.ndarray, heading: np.ndarray, camera: Camera) -> Hits:
    """One ray per (env, column). ``walls`` (E, rows, cols) bool, enclosed; ``pos`` (E, 2) [x, y]; ``heading`` (E,)."""
    envs, width = walls.shape[0], camera.width
    hits = Hits(np.empty((envs, width)), np.empty((envs, width), dtype=bool),
                np.empty((envs, width), dtype=np.int64), np.empty((envs, width)))
    _cast_batch(walls, np.asarray(pos, dtype=np.float64), np.asarray(heading, dtype=np.float64),
                camera.column_offsets(), hits.distance, hits.horizontal, hits.cell, hits.u)
    return hits


@numba.njit(cache=True)
def _render_batch(walls, tints, pos, heading, obj_pos, obj_kind, offsets, focal, palette, ceiling, floor,
                  sprite_color, sprite_half_width, sprite_center, sprite_half_height, sprite_round,
                  frames, zbuffer):  # pragma: no cover - compiled
    envs, height, width = frames.shape[0], frames.shape[2], frames.shape[3]
    horizon = height / 2.0
    half = np.empty(width)
    color = np.empty((3, width))
    inv_half = np.empty(width)
    seam = np.empty((2, width), dtype=np.bool_)  # vertical mortar in even / odd brick rows
    rdx = np.empty(width)
    rdy = np.empty(width)
    for e in range(envs):
        px, py = pos[e, 0], pos[e, 1]
        cos, sin = math.cos(heading[e]), math.sin(heading[e])
        for col in range(width):  # one grid walk per column
            rdx[col] = cos - sin * offsets[col]
            rdy[col] = sin + cos * offsets[col]
            dist, horizontal, r, c, uu = _cast(walls, e, px, py, rdx[col], rdy[col])
            dist = max(dist, 1e-4)
            zbuffer[e, col] = dist
            half[col] = focal * EYE_HEIGHT / dist
            inv_half[col] = 2.0 / half[col]
            shade = 1.0 / (1.0 + FOG * dist)
            if horizontal:
                shade *= 0.72
            tint = tints[e, r, c]
            for ch in range(3):
                color[ch, col] = palette[tint, ch] * shade
            edge = uu < 0.04 or uu > 0.96
            for parity in range(2):
                brick_u = uu * 2.0 + 0.5 * parity
                seam[parity, col] = edge or (brick_u - math.floor(brick_u)) < 0.04
        for y in range(height):  # then row by row, so that writes are contiguous
            centre = y + 0.5 - horizon
            a = abs(centre)
            floor_dist = focal * EYE_HEIGHT / a
            fshade = 1.0 / (1.0 + FOG * floor_dist)
            c0, c1, c2 = np.uint8(ceiling[0] * fshade), np.uint8(ceiling[1] * fshade), np.uint8(ceiling[2] * fshade)
            for col in range(width):
                if a < half[col]:
                    row_v = (centre + half[col]) * inv_half[col]  # 0..4 from the top of the wall: 4 brick rows
                    brick = int(row_v)
                    k = 0.6 if (row_v - brick) < 0.08 or seam[brick & 1, col] else 1.0
                    frames[e, 0, y, col] = np.uint8(color[0, col] * k)
                    frames[e, 1, y, col] = np.uint8(color[1, col] * k)
                    frames[e, 2, y, col] = np.uint8(color[2, col] * k)
                elif centre < 0:
                    frames[e, 0, y, col] = c0
                    frames[e, 1, y, col] = c1
                    frames[e, 2, y, col] = c2
                else:
                    wx = px + floor_dist * rdx[col]
                    wy = py + floor_dist * rdy[col]
                    k = 0.82 if (math.floor(wx) + math.floor(wy)) % 2.0 else 1.0
                    frames[e, 0, y, col] = np.uint8(floor[0] * fshade * k)
                    frames[e, 1, y, col] = np.uint8(floor[1] * fshade * k)
                    frames[e, 2, y, col] = np.uint8(floor[2] * fshade * k)
        # objects, far to near, each column depth-tested against the walls
        count = obj_kind.shape[1]
        depth = np.empty(count)
        lateral = np.empty(count)
        for k in range(count):
            rx, ry = obj_pos[e, k, 0] - px, obj_pos[e, k, 1] - py
            depth[k] = rx * cos + ry * sin
            lateral[k] = -rx * sin + ry * cos
        for k in np.argsort(-depth):
            kind = obj_kind[e, k]
            if kind == 0 or depth[k] < 0.05:
                continue
            scale = focal / depth[k]
            cx = width / 2.0 + lateral[k] * scale
            hw = sprite_half_width[kind] * scale
            mid = horizon + (EYE_HEIGHT - sprite_center[kind]) * scale
            hh = sprite_half_height[kind] * scale
            oshade = 1.0 / (1.0 + FOG * depth[k])
            first = max(0, int(math.floor(cx - hw)))
            last = min(width - 1, int(math.ceil(cx + hw)))
            for col in range(first, last + 1):
                if depth[k] >= zbuffer[e, col]:
                    continue
                uu = (col + 0.5 - cx) / hw
                if abs(uu) >= 1.0:
                    continue
                extent = hh * math.sqrt(1.0 - uu * uu) if sprite_round[kind] else hh
                k_shade = oshade * (0.7 if abs(uu) > 0.7 else 1.0)
                y0 = max(0, int(math.ceil(mid - extent - 0.5)))
                y1 = min(height, int(math.ceil(mid + extent - 0.5)))
                for y in range(y0, y1):
                    frames[e, 0, y, col] = np.uint8(sprite_color[kind, 0] * k_shade)
                    frames[e, 1, y, col] = np.uint8(sprite_color[kind, 1] * k_shade)
                    frames[e, 2, y, col] = np.uint8(sprite_color[kind, 2] * k_shade)


def render(walls: np.ndarray, tints: np.ndarray, pos: np.ndarray, heading: np.ndarray, obj_pos: np.ndarray,
           obj_kind: np.ndarray, camera: Camera, out: np.ndarray | None = None) -> np.ndarray:
    """First-person frames (E, 3, H, W) uint8 for a batch.

    ``walls`` (E, rows, cols) bool; ``tints`` palette indices of the same shape; ``obj_pos`` (E, K, 2)
    and ``obj_kind`` (E, K) int8 (0 for an empty slot) are the objects to draw.
    """
    envs = walls.shape[0]
    frames = out if out is not None else np.empty((envs, 3, camera.height, camera.width), dtype=np.uint8)
    zbuffer = np.empty((envs, camera.width))
    _render_batch(walls, tints, np.asarray(pos, dtype=np.float64), np.asarray(heading, dtype=np.float64),
                  np.asarray(obj_pos, dtype=np.float64), np.asarray(obj_kind, dtype=np.int8),
                  camera.column_offsets(), camera.focal, WALL_PALETTE, CEILING, FLOOR, SPRITE_COLOR,
                  SPRITE_HALF_WIDTH, SPRITE_CENTER, SPRITE_HALF_HEIGHT, SPRITE_ROUND, frames, zbuffer)
    return frames
