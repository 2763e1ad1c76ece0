"""``warp_image``: resample a tensor from its source Space onto a target Space, once."""

from __future__ import annotations

import math
from typing import Any, Optional, Union

import numpy as np
import torch

from ..errors import ModeError, ShapeMismatchError, SpaceTypeError
from ..geometry.space import Space
from .kernels import run_general, run_index, run_separable, target_box
from .plan import PathKind, WarpPlan, plan_warp

__all__ = ["warp_image", "MODES", "PADDINGS"]

MODES = ("nearest", "linear", "cubic", "label")
PADDINGS = ("border", "reflection")

Padding = Union[float, int, str]


def _check_padding(padding: Any) -> Padding:
    if isinstance(padding, str):
        if padding not in PADDINGS:
            raise ModeError(f"padding must be a number, 'border' or 'reflection', got {padding!r}")
        return padding
    if isinstance(padding, (bool, int, float, np.number)):
        return float(padding) if not isinstance(padding, (bool, int, np.integer)) else int(padding)
    raise ModeError(f"padding must be a number, 'border' or 'reflection', got {padding!r}")


def _check_fill(fill: Padding, dtype: torch.dtype) -> None:
    """An integer or bool output can only be filled with a value it can hold exactly."""
    if isinstance(fill, str) or dtype.is_floating_point or dtype.is_complex:
        return
    value = float(fill)
    if dtype == torch.bool:
        ok = value in (0.0, 1.0)
    else:
        info = torch.iinfo(dtype)
        ok = math.isfinite(value) and value == int(value) and info.min <= value <= info.max
    if not ok:
        raise ModeError(f"padding={fill!r} cannot be stored in an output of dtype {dtype}")


def _as_tensor(image: Any) -> tuple[torch.Tensor, bool]:
    """``(tensor, was_numpy)``; a MONAI MetaTensor is used as a plain tensor (duck-typed)."""
    if isinstance(image, np.ndarray):
        if image.dtype == object or not (np.issubdtype(image.dtype, np.number) or image.dtype == bool):
            raise SpaceTypeError(f"image must have a numeric or bool dtype, got numpy dtype {image.dtype}")
        # torch cannot wrap negative strides; a copy is made only then
        arr = image if all(s >= 0 for s in image.strides) else np.ascontiguousarray(image)
        return torch.from_numpy(arr), True
    if isinstance(image, torch.Tensor):
        as_tensor = getattr(image, "as_tensor", None)  # MONAI MetaTensor → plain torch.Tensor
        return (as_tensor() if callable(as_tensor) else image), False
    raise SpaceTypeError(f"image must be a torch.Tensor or a numpy.ndarray, got {type(image).__name__}")


def _run(img: torch.Tensor, plan: WarpPlan, mode: str, padding: Padding, fill: float, path: PathKind,
         out_dtype: torch.dtype, out_fill: float) -> torch.Tensor:
    """Allocate the ``(N, *target)`` output, fill it outside the computed box, run the path into the box."""
    box = target_box(plan, padding)
    lead, device = img.shape[0], img.device
    if box is None:
        return torch.full((lead, *plan.target_shape), out_fill, dtype=out_dtype, device=device)
    # fill only the complement of the box (one slab per side per axis): the box is written
    # by the kernel, so no output byte is written twice
    out = torch.empty((lead, *plan.target_shape), dtype=out_dtype, device=device)
    for k, (s, m) in enumerate(zip(box, plan.target_shape)):
        for side in (slice(0, s.start), slice(s.stop, m)):
            if side.stop > side.start:
                out[(slice(None), *box[:k], side)].fill_(out_fill)
    dest = out[(slice(None), *box)]
    if path == "index" and not isinstance(padding, str):
        run_index(img, plan, box, dest)
    elif path in ("index", "separable"):
        run_separable(img, plan, box, "nearest" if path == "index" else mode, padding, dest)
    else:
        run_general(img, plan, box, mode, padding, fill, dest)
    return out


def _general(plan: WarpPlan) -> WarpPlan:
    """The same plan forced onto the general path (testing switch)."""
    return WarpPlan("general", plan.matrix, plan.source_shape, plan.target_shape)


def warp_image(
    image: Any,
    source: Space,
    target: Space,
    mode: str = "linear",
    padding: Padding = 0.0,
    *,
    _path: Optional[PathKind] = None,
) -> Any:
    """Resample ``image``, laid out on ``source``, onto the grid ``target`` in one pass.

    Args:
        image: torch tensor or numpy array shaped ``(*spatial)``, ``(C, *spatial)`` or
            ``(B, C, *spatial)`` with ``spatial == source.shape``. A MONAI ``MetaTensor`` is
            used as a plain tensor. Never modified.
        source: the Space ``image`` lives on.
        target: the Space to sample onto.
        mode: ``"nearest"``, ``"linear"``, ``"cubic"`` (Keys, ``A = -0.75``) or ``"label"``
            (per-class linear interpolation of the one-hot of the classes present, then
            argmax; ties go to the smaller label).
        padding: a number (constant fill for target voxels whose centre lies outside the
            source field of view; inside it, taps are clamped to the edge), ``"border"``
            or ``"reflection"`` (about the voxel edges ``-0.5`` and ``n - 0.5``, as
            ``grid_sample(align_corners=False)``). In ``"label"`` mode the number is the
            fill label.

    Returns:
        Same container as ``image`` (a plain ``torch.Tensor`` on the input's device, or
        numpy), with the same leading dims and ``target.shape`` as spatial shape. dtype:
        ``nearest``, ``label`` and the exact paths keep the input dtype (integer and bool
        label maps stay so); ``linear``/``cubic`` keep a floating dtype and return float32
        for integer/bool input.

    Conventions:
        A target voxel centre ``j`` is sampled at source index ``x = M @ [j, 1]``,
        ``M = index_map(target, source)`` (float64). **Nearest tie rule:** the source voxel
        is ``floor(snap(x + 0.5))`` — voxel ``i`` owns ``[i - 0.5, i + 0.5)``, so a centre
        on a boundary (within :data:`~monai_spacetx.geometry.tolerances.SNAP_TOL`) goes to the higher
        index. torch's ``nearest`` (``floor(x)``-style) is never used.

    Paths (see :func:`~monai_spacetx.engine.plan_warp`), the cheapest exact one first:
    identical spaces return a **copy** of the input (never the input itself); integer
    translation + flips + permutation are executed by indexing, bitwise exact for any
    dtype and mode (interpolation is the identity there); axis-aligned maps use separable
    1-D interpolation; anything else one gather / ``grid_sample`` pass on a float64 grid.
    Only the target box that overlaps the source is computed; the rest is fill.
    Differentiable with respect to ``image`` for ``linear`` and ``cubic``.

    Raises:
        SpaceTypeError: ``image`` is neither a tensor nor an array, or spaces are not Spaces.
        ShapeMismatchError: ``image``'s dims or spatial shape do not match ``source``.
        ModeError: unknown ``mode`` / ``padding``, or a fill the output dtype cannot hold.
        SpaceError: ``source`` and ``target`` differ in dimensionality.
    """
    if mode not in MODES:
        raise ModeError(f"mode must be one of {MODES}, got {mode!r}")
    padding = _check_padding(padding)
    tensor, was_numpy = _as_tensor(image)
    plan = plan_warp(source, target)
    ndim = plan.ndim
    if tensor.dim() not in (ndim, ndim + 1, ndim + 2):
        raise ShapeMismatchError(
            f"image must be (*spatial), (C, *spatial) or (B, C, *spatial) for a {ndim}-D source space "
            f"{source.shape}, got shape {tuple(tensor.shape)}"
        )
    if tuple(tensor.shape[-ndim:]) != source.shape:
        raise ShapeMismatchError(
            f"image spatial shape {tuple(tensor.shape[-ndim:])} does not match source.shape {source.shape} "
            f"(image shape {tuple(tensor.shape)})"
        )
    lead_shape = tuple(tensor.shape[:-ndim])
    img = tensor.reshape(-1, *source.shape)
    path: PathKind = _path or plan.kind
    if path == "general":
        plan = _general(plan)
    fill = 0.0 if isinstance(padding, str) else padding

    if path == "identity":
        out = img.clone()
    elif mode == "label" and path != "index":
        _check_fill(padding, img.dtype)
        out = _warp_labels(img, plan, padding, fill, path)
    else:
        exact = path == "index" or mode == "nearest"
        dtype = img.dtype if exact or img.dtype.is_floating_point else torch.float32
        _check_fill(padding, dtype)
        work = img if img.dtype == dtype else img.to(dtype)
        out = _run(work, plan, "nearest" if exact else mode, padding, fill, path, dtype, fill)
    out = out.reshape(*lead_shape, *target.shape)
    if was_numpy:
        return out.detach().cpu().numpy()
    return out


def _warp_labels(img: torch.Tensor, plan: WarpPlan, padding: Padding, fill: float, path: PathKind) -> torch.Tensor:
    """Per-class linear interpolation of the one-hot of the present classes, then argmax.

    A running maximum keeps one class in memory at a time; a class must beat the current
    best strictly, so ties go to the smaller label. Class probabilities are ``-1`` outside
    the source field of view, so that no class beats the initial ``-0.5`` there and the
    fill label stays.
    """
    best: Optional[torch.Tensor] = None
    labels = torch.full((img.shape[0], *plan.target_shape), fill, dtype=img.dtype, device=img.device)
    for value in torch.unique(img):
        prob = _run((img == value).to(torch.float32), plan, "linear", padding, -1.0, path, torch.float32, -1.0)
        best = torch.full_like(prob, -0.5) if best is None else best
        wins = prob > best
        best = torch.where(wins, prob, best)
        labels = torch.where(wins, value, labels)
    return labels
