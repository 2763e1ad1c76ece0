"""``warp_image``: resample a tensor from its source Space onto a target Space, once."""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from typing import Any, Optional, TypeVar, Union, overload

import numpy as np
import torch

from .._recent import RecentValues
from ..errors import ModeError, ShapeMismatchError, SpaceTypeError
from ..geometry.space import Space
from .box import Box, target_box
from .general import run_general
from .index import run_index
from .label import run_label
from .limits import check_grid
from .options import WarpOptions
from .plan import WarpPlan, plan_warp
from .separable import run_separable
from .threads import engine_threads

__all__ = ["warp_image", "recent_plan", "ImageLike"]

#: What :func:`warp_image` accepts and returns: a torch tensor (a MONAI ``MetaTensor`` is read as
#: a plain tensor) or a numpy array; the output is the same kind of container as the input.
ImageLike = TypeVar("ImageLike", bound=Union[torch.Tensor, np.ndarray])


def _check_fill(fill: float, dtype: torch.dtype) -> None:
    """An integer or bool output can only be filled with a value it can hold exactly."""
    if dtype.is_floating_point or dtype.is_complex:
        return
    if dtype == torch.bool:
        ok = fill in (0.0, 1.0)
    else:
        info = torch.iinfo(dtype)
        ok = math.isfinite(fill) and fill == int(fill) and info.min <= fill <= info.max
    if not ok:
        raise ModeError(f"fill={fill!r} cannot be stored in an output of dtype {dtype}")


def _as_tensor(image: Any) -> tuple[torch.Tensor, bool]:
    """``(tensor, was_numpy)``; a MONAI MetaTensor is used as a plain tensor (duck-typed).

    numpy arrays torch cannot wrap are converted, never refused: non-native byte order (nibabel's
    ``dataobj`` hands out big-endian arrays) is swapped to native; ``np.longdouble`` /
    ``np.clongdouble`` become float64 / complex128 (torch has no wider float: the extra
    precision is dropped); negative strides are copied.
    """
    if isinstance(image, np.ndarray):
        if image.dtype == object or not (np.issubdtype(image.dtype, np.number) or image.dtype == bool):
            raise SpaceTypeError(f"image must have a numeric or bool dtype, got numpy dtype {image.dtype}")
        arr = image
        if arr.dtype == np.longdouble:
            arr = arr.astype(np.float64)
        elif arr.dtype == np.clongdouble:
            arr = arr.astype(np.complex128)
        elif not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        if any(s < 0 for s in arr.strides):
            arr = np.ascontiguousarray(arr)
        if not arr.flags.writeable:  # read-only (a memory map): fine, the engine never writes its input
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                return torch.from_numpy(arr), True
        return torch.from_numpy(arr), True
    if isinstance(image, torch.Tensor):
        as_tensor = getattr(image, "as_tensor", None)  # MONAI MetaTensor → plain torch.Tensor
        return (as_tensor() if callable(as_tensor) else image), False
    raise SpaceTypeError(f"image must be a torch.Tensor or a numpy.ndarray, got {type(image).__name__}")


#: Plans of recent ``source -> target`` pairs, keyed by the two grids' shapes and affine bytes (all a
#: plan depends on), each with its target boxes per padding rule (``options.constant``): a training
#: loop or a per-case pipeline asks for the same few resamples again and again, and planning a 64^3
#: output cost as much as a fifth of its nearest kernel (``benchmarks/bench_overhead.py``).
_PLANS: "RecentValues[tuple[WarpPlan, dict[bool, Any]]]" = RecentValues(64)


def _plan_for(source: Space, target: Space) -> tuple[WarpPlan, dict[bool, Any]]:
    """:func:`plan_warp` for ``source -> target`` and the plan's cached boxes (:func:`_box_and_fills`),
    from the cache of recent plans when it holds them.

    The cached plan is the one :func:`plan_warp` returned for equal grids (same shapes, bit-equal
    affines); its matrix is made read-only, so that no caller can change a plan other calls use.
    Anything but two Spaces goes to :func:`plan_warp`, which raises the error naming it.
    """
    if not (isinstance(source, Space) and isinstance(target, Space)):
        return plan_warp(source, target), {}

    def make() -> tuple[WarpPlan, dict[bool, Any]]:
        plan = plan_warp(source, target)
        plan.matrix.setflags(write=False)
        return plan, {}

    return _PLANS.get((source.shape, source.affine.tobytes(), target.shape, target.affine.tobytes()), make)


def recent_plan(source: Space, target: Space) -> WarpPlan:
    """:func:`~.plan.plan_warp` for ``source -> target``, from the cache of recent plans that
    :func:`warp_image` executes (made and kept when missing; its matrix is read only). A transform that
    asks for a pair's plan before warping it (is it a copy?) plans once for both.

    Raises:
        SpaceTypeError: ``source`` or ``target`` is not a Space (from :func:`~.plan.plan_warp`).
    """
    return _plan_for(source, target)[0]


def _box_and_fills(plan: WarpPlan, options: WarpOptions, boxes: dict[bool, Any]) -> tuple[Optional[Box], Optional[list[tuple[slice, ...]]]]:
    """The plan's target box for ``options.constant`` and the regions of the ``(N, *target)`` output to
    fill around it (``None``: fill the whole output first), from ``boxes`` where known, else computed and
    added there."""
    known = boxes.get(options.constant)
    if known is not None:
        return known  # type: ignore[no-any-return]
    box = target_box(plan, options)
    fills: Optional[list[tuple[slice, ...]]] = None
    if box is not None and 2 * math.prod(s.stop - s.start for s in box) > math.prod(plan.target_shape):
        # fill only the complement of the box (one slab per side per axis): the box is written by the
        # kernel, so no output byte is written twice. Where the box is at most half the output, one
        # contiguous fill is faster: the complement's slabs along the last axis are short strided
        # runs (3 channels to 384x384x200, a third of it the box: 168 against 151 ms of CPU)
        fills = [(slice(None), *box[:k], side) for k, (s, m) in enumerate(zip(box, plan.target_shape))
                 for side in (slice(0, s.start), slice(s.stop, m)) if side.stop > side.start]
    boxes[options.constant] = (box, fills)
    return box, fills


def _run(img: torch.Tensor, plan: WarpPlan, options: WarpOptions, out_dtype: torch.dtype, boxes: dict[bool, Any]) -> torch.Tensor:
    """Allocate the ``(N, *target)`` output, fill it outside the computed box, run the path into the box
    (``boxes``: the plan's target boxes and fill regions known so far, per ``options.constant``
    (:func:`_box_and_fills`))."""
    box, fills = _box_and_fills(plan, options, boxes)
    lead, device = img.shape[0], img.device
    if box is None:
        return torch.full((lead, *plan.target_shape), options.fill, dtype=out_dtype, device=device)
    out = torch.empty((lead, *plan.target_shape), dtype=out_dtype, device=device)
    if fills is None:
        out.fill_(options.fill)
    for region in fills or ():
        out[region].fill_(options.fill)
    dest = out[(slice(None), *box)]
    if plan.kind == "index" and options.constant:
        run_index(img, plan, box, dest)
    elif options.mode == "label":
        run_label(img, plan, box, options, dest)
    elif plan.kind in ("index", "separable"):
        run_separable(img, plan, box, options, dest)
    else:
        run_general(img, plan, box, options, dest)
    return out


@overload
def warp_image(
    image: np.ndarray,
    source: Space,
    target: Space,
    mode: Any = ...,
    padding_mode: Any = ...,
    fill: float = ...,
    *,
    options: Optional[WarpOptions] = ...,
    plan: Optional[WarpPlan] = ...,
) -> np.ndarray: ...


@overload
def warp_image(
    image: torch.Tensor,
    source: Space,
    target: Space,
    mode: Any = ...,
    padding_mode: Any = ...,
    fill: float = ...,
    *,
    options: Optional[WarpOptions] = ...,
    plan: Optional[WarpPlan] = ...,
) -> torch.Tensor: ...


def warp_image(
    image: Union[torch.Tensor, np.ndarray],
    source: Space,
    target: Space,
    mode: Any = "linear",
    padding_mode: Any = "zeros",
    fill: float = 0.0,
    *,
    options: Optional[WarpOptions] = None,
    plan: Optional[WarpPlan] = None,
) -> Union[torch.Tensor, np.ndarray]:
    """Resample ``image``, laid out on ``source``, onto the grid ``target`` in one pass.

    Args:
        image: torch tensor or numpy array shaped ``(*spatial)``, ``(C, *spatial)`` or
            ``(B, C, *spatial)`` with ``spatial == source.shape``. A MONAI ``MetaTensor`` is
            used as a plain tensor. Never modified. Big-endian and ``np.longdouble`` arrays are
            accepted (converted to native byte order / float64).
        source: the Space ``image`` lives on.
        target: the Space to sample onto.
        mode: ``"nearest"``, ``"linear"``, ``"cubic"`` (Keys, ``A = -0.75``) or ``"label"``
            (per-class linear interpolation, then argmax; ties go to the smaller label), or
            MONAI's names for them (``"bilinear"``, ``"nearest-exact"``, spline orders 0/1/3;
            see :mod:`monai_spacetx.engine.options`).
        padding_mode: ``"zeros"`` (target voxels whose centre lies outside the source field of
            view get ``fill``; inside it, taps are clamped to the edge), ``"border"`` or
            ``"reflection"`` (about the voxel edges ``-0.5`` and ``n - 0.5``, as
            ``grid_sample(align_corners=False)``).
        fill: the constant of ``"zeros"`` padding; in ``"label"`` mode, the fill label.
        options: a parsed :class:`~monai_spacetx.engine.options.WarpOptions`; when given it
            replaces ``mode``, ``padding_mode`` and ``fill`` (transforms parse once, at
            construction, and pass this).
        plan: a :class:`~monai_spacetx.engine.WarpPlan` for ``source → target`` to execute
            instead of planning again (tests force a path with
            ``dataclasses.replace(plan, kind="general")``).

    Returns:
        Same container as ``image`` (a plain ``torch.Tensor`` on the input's device, or
        numpy), with the same leading dims and ``target.shape`` as spatial shape. dtype:
        ``nearest``, ``label`` and the exact paths keep the input dtype (integer and bool
        label maps stay so); ``linear``/``cubic`` keep a floating or complex dtype and return
        float32 for integer/bool input. Complex input is interpolated per part (real and
        imaginary separately); ``"label"`` refuses it.

    Conventions:
        A target voxel centre ``j`` is sampled at source index ``x = M @ [j, 1]``,
        ``M = index_map(target, source)`` (float64). **Nearest tie rule:** the source voxel
        is ``floor(x + 0.5)`` with ``x`` snapped to an integer within
        :data:`~monai_spacetx.geometry.tolerances.SNAP_TOL` — voxel ``i`` owns
        ``[i - 0.5, i + 0.5)``, so a centre on a boundary goes to the higher index. torch's
        ``nearest`` (``floor(x)``-style) is never used.

    Paths (see :func:`~monai_spacetx.engine.plan_warp`), the cheapest exact one first:
    identical spaces return a **copy** of the input (never the input itself); integer
    translation + flips + permutation are executed by indexing, bitwise exact for any
    dtype and mode (interpolation is the identity there); axis-aligned maps use separable
    1-D interpolation; anything else one gather / ``grid_sample`` pass.
    Only the target box that overlaps the source is computed; the rest is fill.
    Differentiable with respect to ``image`` for ``linear`` and ``cubic``. On a CPU where other
    processes are running, the call uses only the free cores
    (:mod:`monai_spacetx.engine.threads`).

    Raises:
        SpaceTypeError: ``image`` is neither a tensor nor an array, spaces are not Spaces,
            or complex input in ``"label"`` mode.
        ShapeMismatchError: ``image``'s dims or spatial shape do not match ``source``, or
            ``plan`` was made for other shapes.
        ModeError: unknown ``mode`` / ``padding_mode``, a fill the output dtype cannot hold,
            non-integer values in ``"label"`` mode, or ``"label"`` mode on an image that requires grad.
        SpaceError: ``source`` and ``target`` differ in dimensionality, or the output does not fit in
            the device's free memory (refused before allocating, see :mod:`.limits`).
    """
    if options is None:
        simple = type(mode) is str and type(padding_mode) is str and type(fill) is float
        options = _parsed(mode, padding_mode, fill.hex()) if simple else WarpOptions.parse(mode, padding_mode, fill)
    elif not isinstance(options, WarpOptions):
        raise SpaceTypeError(f"options must be a WarpOptions (WarpOptions.parse(...)) or None, got {type(options).__name__}")
    if plan is not None and not isinstance(plan, WarpPlan):
        raise SpaceTypeError(f"plan must be a WarpPlan (plan_warp(source, target)) or None, got {type(plan).__name__}")
    tensor, was_numpy = _as_tensor(image)
    boxes: dict[bool, Any] = {}
    if plan is None:
        plan, boxes = _plan_for(source, target)
    elif (plan.source_shape, plan.target_shape) != (source.shape, target.shape):
        raise ShapeMismatchError(
            f"plan maps {plan.source_shape} -> {plan.target_shape}, but source.shape is {source.shape} "
            f"and target.shape is {target.shape}"
        )
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
    if options.mode == "label" and tensor.requires_grad:
        raise ModeError(
            "mode 'label' votes on class values and has no gradient, got an image that requires grad; "
            "pass image.detach(), or use mode 'linear' to differentiate"
        )
    lead_shape = tuple(tensor.shape[:-ndim])
    channel_first = tensor.dim() == ndim + 1  # (C, *spatial) as the engine works: no reshape either way
    img = tensor if channel_first else tensor.reshape(-1, *source.shape)
    floating = img.dtype.is_floating_point or img.dtype.is_complex
    check_grid(target.shape, what="target (the grid to sample onto)", channels=img.shape[0], device=img.device,
               itemsize=img.element_size() if floating or options.mode in ("nearest", "label") else 4)
    with engine_threads(img.device):
        out = _dispatch(img, plan, options, boxes)
    if not channel_first:
        out = out.reshape(*lead_shape, *target.shape)
    if was_numpy:
        return out.detach().cpu().numpy()
    return out


@functools.lru_cache(maxsize=64)
def _parsed(mode: str, padding_mode: str, fill_hex: str) -> WarpOptions:
    """:meth:`WarpOptions.parse` of the common arguments, recent ones kept (a call on a 64^3 output spent
    5 of its 60 us of overhead parsing); the fill by its exact bits (``-0.0`` is not ``0.0``)."""
    return WarpOptions.parse(mode, padding_mode, float.fromhex(fill_hex))


#: Unsigned dtypes torch has few kernels for (no masked_fill, index_put): labels move through a wider signed dtype.
_WIDER = {torch.uint16: torch.int32, torch.uint32: torch.int64, torch.uint64: torch.int64}


def _dispatch(img: torch.Tensor, plan: WarpPlan, options: WarpOptions, boxes: dict[bool, Any]) -> torch.Tensor:
    """Pick the dtype and the path for ``(N, *source)`` input; returns ``(N, *target)`` (``boxes``: see :func:`_run`)."""
    if plan.kind == "identity":
        return img.clone()
    if options.mode == "area" and plan.kind == "general":
        raise ModeError(
            "mode 'area' (block averaging, MONAI Resize's default) needs an axis-aligned resample (a resize, zoom "
            "or respacing, with flips/permutations); this one rotates the grid: use 'bilinear' with anti_aliasing=True"
        )
    exact = plan.kind == "index" or options.mode == "nearest"
    if img.dtype in _WIDER and (exact or options.mode == "label"):  # torch implements few ops for these
        _check_fill(options.fill, img.dtype)
        return _dispatch(img.to(_WIDER[img.dtype]), plan, options, boxes).to(img.dtype)
    if options.mode == "label" and not exact:
        if img.dtype.is_complex:
            raise SpaceTypeError(f"mode 'label' needs real-valued labels, got dtype {img.dtype}")
        _check_fill(options.fill, img.dtype)
        _check_integral_labels(img)
        return _run(img, plan, options, img.dtype, boxes)
    if exact:
        _check_fill(options.fill, img.dtype)
        return _run(img, plan, _as_nearest(options), img.dtype, boxes)
    if img.dtype.is_complex:  # the real and imaginary parts separately; the fill is ``fill + 0j``
        imag_options = dataclasses.replace(options, fill=0.0)
        return torch.complex(_dispatch(img.real, plan, options, boxes), _dispatch(img.imag, plan, imag_options, boxes))
    # integer input is converted by the kernels, only in the part of the source they read
    return _run(img, plan, options, img.dtype if img.dtype.is_floating_point else torch.float32, boxes)


def _as_nearest(options: WarpOptions) -> WarpOptions:
    """``options`` in ``"nearest"`` mode (itself when it is: no second validation)."""
    return options if options.mode == "nearest" else dataclasses.replace(options, mode="nearest")


def _check_integral_labels(img: torch.Tensor) -> None:
    """``"label"`` mode treats every distinct value as a class: refuse a float image that is not a label map."""
    if img.dtype.is_floating_point and not bool(torch.isfinite(img).all()):
        raise ModeError(f"mode 'label' needs integer class values, got NaN or infinite values in a {img.dtype} image")
    if img.dtype.is_floating_point and not bool((img == img.round()).all()):
        count = int(torch.unique(img).numel())
        raise ModeError(
            f"mode 'label' needs integer class values, got a {img.dtype} image with {count} distinct values "
            "(not all integers); use mode 'linear' for intensities or probabilities"
        )

