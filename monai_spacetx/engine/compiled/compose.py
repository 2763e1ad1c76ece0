"""The composed nearest map-back through a chain of grids (:func:`compose_nearest_gather`): each voxel
mapped through every step with the nearest rule, read once."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from ...geometry.points import nearest_voxel
from ...geometry.tolerances import SNAP_TOL
from ._args import _BITS, _fill_value, _padded, _padded_out, _storage
from ._rows import _tile_rows
from ._runtime import TILE, _run, available, compile_module, numba


def _compose_row(r: int, src: Any, sst: Any, out: Any, oshape: Any, maps: Any, shapes: Any, fill: Any) -> None:
    """Composed nearest map-back: each voxel through every map, ``floor(snap(x + 0.5))``, inside every grid."""
    steps = maps.shape[0]
    a = r // oshape[2]
    b = r - a * oshape[2]
    base = (a * oshape[2] + b) * oshape[3]
    for l in range(oshape[3]):
        p0, p1, p2 = float(a), float(b), float(l)
        ok = True
        for s in range(steps):
            m = maps[s]
            y0 = p0 * m[0, 0] + p1 * m[0, 1] + p2 * m[0, 2] + m[0, 3]
            y1 = p0 * m[1, 0] + p1 * m[1, 1] + p2 * m[1, 2] + m[1, 3]
            y2 = p0 * m[2, 0] + p1 * m[2, 1] + p2 * m[2, 2] + m[2, 3]
            # the tie rule of geometry.points.nearest_voxel: the half added, then snapped
            y0, y1, y2 = y0 + 0.5, y1 + 0.5, y2 + 0.5
            r0, r1, r2 = np.rint(y0), np.rint(y1), np.rint(y2)
            y0 = r0 if abs(y0 - r0) <= SNAP_TOL else y0
            y1 = r1 if abs(y1 - r1) <= SNAP_TOL else y1
            y2 = r2 if abs(y2 - r2) <= SNAP_TOL else y2
            p0, p1, p2 = math.floor(y0), math.floor(y1), math.floor(y2)
            if not (0.0 <= p0 < shapes[s, 0] and 0.0 <= p1 < shapes[s, 1] and 0.0 <= p2 < shapes[s, 2]):
                ok = False
                break
        if ok:
            at = int(p0) * sst[1] + int(p1) * sst[2] + int(p2) * sst[3]
            for c in range(oshape[0]):
                out[c * oshape[1] * oshape[2] * oshape[3] + base + l] = src[at + c * sst[0]]
        else:
            for c in range(oshape[0]):
                out[c * oshape[1] * oshape[2] * oshape[3] + base + l] = fill


def _compose_serial(rows_a: int, rows_b: int, args: Any) -> None:
    tiles = ((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)
    for t in range(tiles):
        a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
        for a in range(a0, a1):
            for b in range(b0, b1):
                _compose_row(a * rows_b + b, *args)


def _compose_parallel(rows_a: int, rows_b: int, args: Any) -> None:
    tiles = ((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)
    for t in numba.prange(tiles):
        a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
        for a in range(a0, a1):
            for b in range(b0, b1):
                _compose_row(a * rows_b + b, *args)


compile_module(globals(), helpers=(), modes=('compose',))


#: Output voxels per chunk of the torch fallback (bounds its float64 points: 24 bytes per voxel of a chunk).
_COMPOSE_CHUNK = 1 << 18


def compose_nearest_gather(
    data: torch.Tensor,
    maps: Sequence[np.ndarray],
    shapes: Sequence[Sequence[int]],
    out_shape: Sequence[int],
    fill: float,
) -> torch.Tensor:
    """``data`` read at the end of a chain of nearest steps, for every voxel of grid 0.

    Args:
        data: ``(C, *shapes[-1])`` values on the last grid, any dtype, any device.
        maps: ``(D+1, D+1)`` float64 index maps, grid 0 → grid 1, grid 1 → grid 2, ...: each takes
            a voxel index of the earlier grid to a continuous index of the next.
        shapes: the shapes of grids 1 .. N (one per map).
        out_shape: the shape of grid 0.
        fill: the value of voxels for which some step leaves its grid.

    Returns:
        ``(C, *out_shape)``, ``data``'s dtype and device. Each step takes the voxel whose box holds
        the mapped centre, ``floor(snap(x + 0.5))`` (``snap``: within ``SNAP_TOL`` of an integer
        is that integer; :func:`~monai_spacetx.geometry.points.nearest_voxel`), exactly as :func:`monai_spacetx.transforms.chain.compose_nearest`; a
        voxel is ``fill`` when any step's voxel lies outside that step's grid. Values are copied
        bit for bit.

    Memory beyond the output: none with the compiled kernel; the torch fallback (CUDA, or numba
    missing) works in chunks of ``2^18`` output voxels.
    """
    ndim = len(out_shape)
    if len(maps) != len(shapes) or not maps:
        raise ValueError(f"compose_nearest_gather needs one shape per map and at least one map, got {len(maps)} maps and {len(shapes)} shapes")
    if tuple(data.shape[1:]) != tuple(shapes[-1]) or ndim not in (2, 3):
        raise ValueError(f"data {tuple(data.shape)} must be (C, *shapes[-1]) = (C, {tuple(shapes[-1])}), 2-D or 3-D")
    out = torch.empty((data.shape[0], *out_shape), dtype=data.dtype, device=data.device)
    bits = _BITS.get(data.element_size())
    if available() and data.device.type == "cpu" and bits is not None:
        stacked = np.zeros((len(maps), 3, 4), dtype=np.float64)
        for s, matrix in enumerate(maps):  # 2-D: a leading axis of one voxel whose coordinate stays 0
            m = np.asarray(matrix, dtype=np.float64)
            stacked[s, 3 - ndim :, 3 - ndim : 3] = m[:ndim, :ndim]
            stacked[s, 3 - ndim :, 3] = m[:ndim, ndim]
        sizes = np.asarray([_padded(ndim, shape) for shape in shapes], dtype=np.int64)
        source, sst = _storage(data, bits)
        oshape = _padded_out(ndim, out.shape)
        _run("compose", oshape, source, sst, out.view(bits).view(-1).numpy(), oshape,
             stacked, sizes, _fill_value(fill, data.dtype, bits))
        return out
    _compose_torch(data, maps, shapes, out, fill)
    return out


def _compose_torch(data: torch.Tensor, maps: Sequence[np.ndarray], shapes: Sequence[Sequence[int]], out: torch.Tensor, fill: float) -> None:
    """:func:`compose_nearest_gather` chunk by chunk: numpy indices (chain.compose_nearest's arithmetic), a torch gather."""
    ndim = out.dim() - 1
    total = int(np.prod(out.shape[1:]))
    flat_data, flat_out = data.reshape(data.shape[0], -1), out.view(out.shape[0], -1)
    strides = np.cumprod((1, *tuple(shapes[-1])[:0:-1]))[::-1].astype(np.int64)
    fill_value = torch.as_tensor(fill, dtype=data.dtype, device=data.device)
    for begin in range(0, total, _COMPOSE_CHUNK):
        voxels = np.arange(begin, min(begin + _COMPOSE_CHUNK, total))
        points = np.stack(np.unravel_index(voxels, tuple(out.shape[1:])), axis=1)
        ok = np.ones(len(voxels), dtype=bool)
        for matrix, shape in zip(maps, shapes):
            points = nearest_voxel(points @ matrix[:ndim, :ndim].T + matrix[:ndim, ndim]).astype(np.int64)
            ok &= np.all((points >= 0) & (points < np.asarray(shape)), axis=1)
        flat = (np.where(ok[:, None], points, 0) * strides).sum(axis=1)
        chunk = flat_data.index_select(1, torch.as_tensor(flat, device=data.device))
        chunk[:, torch.as_tensor(~ok, device=data.device)] = fill_value
        flat_out[:, begin : begin + len(voxels)] = chunk
