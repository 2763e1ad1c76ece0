"""Round-trip accuracy: the package's one copy of the metrics, and the MONAI-vs-ours harness.

Metrics (numpy; they accept numpy arrays, torch tensors and MetaTensors):

- :func:`wrong_voxels`: voxels whose label differs, optionally only where a mask is true;
- :func:`dice`: mean per-class Dice;
- :func:`working_grid_mask`: the native voxels whose centre lies inside a working grid's field
  of view (the only voxels a prediction made on that grid can get right);
- :func:`score_labels`: wrong voxels inside and outside that mask, and Dice, in one value;
- :func:`landmark_error_mm`: distances in mm between index points of one grid.

Harness: :func:`compare_roundtrip` crops and resamples a loaded label map into a working grid
and maps it back, once with ``SpaceCropd``/``SpaceCropForegroundd`` + ``SpaceResampled`` +
``SpaceInvertd`` and once with MONAI's ``SpatialCropd``/``CropForegroundd`` + ``Spacingd``/
``Resized`` + ``Invertd(nearest_interp=True)``; the label each pipeline carried to the working
grid plays the perfect model. The command line (``monai-spacetx check``) prints its report.

Conventions: ``docs/conventions.md``. Labels are compared as they are (no channel axis, or a
single channel that is squeezed); landmark points are ``(N, D)`` index coordinates.
"""

from __future__ import annotations

import copy
import gc
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from .errors import ShapeMismatchError, SpaceError, SpaceTypeError
from .geometry.space import Space
from .geometry.tolerances import SNAP_TOL

__all__ = [
    "to_numpy",
    "wrong_voxels",
    "dice",
    "working_grid_mask",
    "LabelScore",
    "score_labels",
    "landmark_error_mm",
    "example_scan",
    "PipelineResult",
    "RoundTrip",
    "compare_roundtrip",
]

#: Native voxels processed at once by :func:`working_grid_mask` (bounds its float64 scratch memory).
_MASK_CHUNK_VOXELS = 1 << 20


# ----------------------------------------------------------------------------- metrics
def to_numpy(x: Any) -> np.ndarray:
    """A numpy view of ``x`` (numpy array, torch tensor on any device, MetaTensor or array-like)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu()
        x = x.as_tensor() if hasattr(x, "as_tensor") else x
        return np.asarray(x.numpy())
    return np.asarray(x)


def _pair(pred: Any, truth: Any) -> tuple[np.ndarray, np.ndarray]:
    a, b = to_numpy(pred), to_numpy(truth)
    if a.shape != b.shape:  # tolerate a single channel axis on either side
        a, b = a.squeeze(), b.squeeze()
    if a.shape != b.shape:
        raise ShapeMismatchError(f"pred and truth must have the same shape, got {to_numpy(pred).shape} and {to_numpy(truth).shape}")
    return a, b


def wrong_voxels(pred: Any, truth: Any, where: Optional[np.ndarray] = None) -> int:
    """Number of voxels where ``pred != truth`` (only where ``where`` is true, if given)."""
    a, b = _pair(pred, truth)
    differ = a != b
    if where is not None:
        differ &= np.broadcast_to(np.asarray(where, dtype=bool), differ.shape)
    return int(np.count_nonzero(differ))


def dice(pred: Any, truth: Any, classes: Optional[Sequence[int]] = None, where: Optional[np.ndarray] = None) -> float:
    """Mean Dice over ``classes`` (default: every non-zero label present in either map).

    A class absent from both maps scores 1 (they agree); with no class at all the result is 1.
    ``where`` restricts both maps to a mask first.
    """
    a, b = _pair(pred, truth)
    if where is not None:
        mask = np.broadcast_to(np.asarray(where, dtype=bool), a.shape)
        a, b = a[mask], b[mask]
    if classes is None:
        classes = [int(k) for k in np.union1d(np.unique(a), np.unique(b)) if k != 0]
    scores = []
    for k in classes:
        in_a, in_b = a == k, b == k
        total = int(np.count_nonzero(in_a)) + int(np.count_nonzero(in_b))
        scores.append(1.0 if total == 0 else 2.0 * np.count_nonzero(in_a & in_b) / total)
    return float(np.mean(scores)) if scores else 1.0


def working_grid_mask(native: Space, working: Space) -> np.ndarray:
    """Boolean map on ``native.shape``: voxels whose centre lies in ``working``'s field of view.

    The field of view is the union of the working voxels' boxes (index ``-0.5`` to ``n - 0.5``
    along each axis); a centre on its boundary counts as inside. Computed in chunks, so the
    scratch memory stays small for any grid size.
    """
    for name, value in (("native", native), ("working", working)):
        if not isinstance(value, Space):
            raise SpaceTypeError(f"{name} must be a Space, got {type(value).__name__}")
    if native.ndim != working.ndim:
        raise SpaceError(f"working: expected a {native.ndim}-D space like native, got {working.ndim}-D")
    to_working = np.linalg.inv(working.affine) @ native.affine  # native index -> working index
    linear, shift = to_working[:-1, :-1], to_working[:-1, -1]
    low, high = -0.5 - SNAP_TOL, np.asarray(working.shape, dtype=np.float64) - 0.5 + SNAP_TOL
    mask = np.empty(native.shape, dtype=bool)
    flat = mask.reshape(-1)
    total = flat.size
    for start in range(0, total, _MASK_CHUNK_VOXELS):
        stop = min(start + _MASK_CHUNK_VOXELS, total)
        index = np.stack(np.unravel_index(np.arange(start, stop), native.shape), -1).astype(np.float64)
        inside = index @ linear.T + shift
        flat[start:stop] = np.all((inside >= low) & (inside <= high), axis=1)
    return mask


@dataclass(frozen=True)
class LabelScore:
    """A mapped-back label map against the original.

    ``wrong_inside``/``wrong_outside``: differing native voxels whose centre lies inside/outside
    the working grid's field of view (outside, no prediction is possible; a crop's wrong
    voxels all sit there). ``dice_inside``: mean Dice over the inside voxels; ``dice``: over all.
    """

    wrong_inside: int
    wrong_outside: int
    inside_voxels: int
    dice_inside: float
    dice: float

    @property
    def wrong(self) -> int:
        """All differing voxels."""
        return self.wrong_inside + self.wrong_outside


def score_labels(pred: Any, truth: Any, inside: Optional[np.ndarray] = None, classes: Optional[Sequence[int]] = None) -> LabelScore:
    """Score ``pred`` against ``truth`` inside and outside the mask ``inside`` (default: everywhere)."""
    a, b = _pair(pred, truth)
    inside = np.ones(a.shape, dtype=bool) if inside is None else np.broadcast_to(np.asarray(inside, dtype=bool), a.shape)
    if classes is None:
        classes = [int(k) for k in np.union1d(np.unique(a), np.unique(b)) if k != 0]
    return LabelScore(
        wrong_inside=wrong_voxels(a, b, inside),
        wrong_outside=wrong_voxels(a, b, ~inside),
        inside_voxels=int(np.count_nonzero(inside)),
        dice_inside=dice(a, b, classes, where=inside),
        dice=dice(a, b, classes),
    )


def landmark_error_mm(points: Any, truth: Any, affine: Any) -> np.ndarray:
    """``(N,)`` distances in world units between ``(N, D)`` index points on the grid of ``affine``.

    ``affine`` is the grid's ``(D+1, D+1)`` index -> world matrix (or MONAI's 4x4 for a 2-D grid),
    or a :class:`Space`.
    """
    matrix = affine.affine if isinstance(affine, Space) else to_numpy(affine).astype(np.float64)
    pts, ref = to_numpy(points).astype(np.float64), to_numpy(truth).astype(np.float64)
    if pts.ndim == 0:
        raise ShapeMismatchError(f"points must be (N, D) index coordinates, got {points!r:.60}")
    ndim = pts.shape[-1]
    if ref.shape != pts.shape:
        raise ShapeMismatchError(f"points and truth must have the same shape, got {pts.shape} and {ref.shape}")
    delta = (pts - ref).reshape(-1, ndim) @ matrix[:ndim, :ndim].T
    return np.asarray(np.linalg.norm(delta, axis=1))


# ----------------------------------------------------------------------------- example data
def example_scan(name: str = "anatomical.nii") -> Path:
    """Path of a real scan that ships inside nibabel's wheel (no network, no test helpers).

    ``"anatomical.nii"``: a 33x41x25 MR (T1) volume, 2 mm voxels; ``"example4d.nii.gz"``: an
    oblique 128x96x24 EPI (fMRI) series of 2 volumes. Found with :mod:`importlib.resources`, so
    nothing from nibabel's test helpers (which import pytest) is loaded.
    """
    if not isinstance(name, str):
        raise SpaceTypeError(f"name must be the file name of an example scan, e.g. 'anatomical.nii', got {name!r}")
    path = resources.files("nibabel") / "tests" / "data" / name
    if not path.is_file():
        raise FileNotFoundError(f"nibabel ships no example scan {name!r} (try 'anatomical.nii' or 'example4d.nii.gz')")
    return Path(str(path))


# ----------------------------------------------------------------------------- the harness
@dataclass
class PipelineResult:
    """One pipeline's round trip of the label (``back`` is the mapped-back label, native shape)."""

    name: str
    steps: str
    working_shape: tuple[int, ...]
    native_shape: tuple[int, ...]
    score: Optional[LabelScore]
    back: Optional[np.ndarray]
    seconds: float
    label_mode: Optional[LabelScore] = None
    probabilities: Optional[LabelScore] = None
    landmark_mm: Optional[np.ndarray] = None
    landmarks_outside: Optional[int] = None
    note: str = ""


@dataclass
class RoundTrip:
    """What :func:`compare_roundtrip` measured; ``results`` holds ours first, then MONAI's (if run)."""

    native: Space
    working: Space
    inside: np.ndarray
    label: np.ndarray
    results: list[PipelineResult] = field(default_factory=list)


Progress = Callable[[str], None]


def _quiet(step: str) -> None:
    """The default progress callback: says nothing."""


class _Above:
    """A picklable ``select_fn``: ``x > threshold``."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def __call__(self, x: Any) -> Any:
        return x > self.threshold


def _grid_args(ndim: int, spacing: Optional[Sequence[float]], size: Optional[Sequence[int]]) -> dict[str, Any]:
    if (spacing is None) == (size is None):
        raise SpaceError(f"give exactly one of spacing and size, got spacing={spacing!r}, size={size!r}")
    values = spacing if spacing is not None else size
    assert values is not None
    name = "spacing" if spacing is not None else "size"
    if len(values) != ndim:
        raise SpaceError(f"{name}: expected {ndim} values for a {ndim}-D image, got {list(values)}")
    if not all(np.isfinite(v) and v > 0 for v in values):
        raise SpaceError(f"{name}: values must be positive and finite, got {list(values)}")
    return {"spacing": tuple(float(v) for v in values)} if spacing is not None else {"size": tuple(int(v) for v in values)}


def _ours(data: dict[str, Any], crop: Optional[dict[str, Any]], grid: dict[str, Any], world: Optional[np.ndarray], progress: Progress) -> tuple[PipelineResult, Space, Any]:
    from monai.transforms import Compose

    from .geometry.points import world_to_index
    from .transforms import SpaceCropd, SpaceCropForegroundd, SpaceInvertd, SpaceResampled, get_space

    points: dict[str, Any] = {"point_keys": "landmarks"} if world is not None else {}
    native = Space.from_metatensor(data["image"])
    if world is not None:
        data["landmarks"] = world_to_index(world, native)
    steps: list[Any] = []
    if crop is not None and "threshold" in crop:
        select = _Above(crop["threshold"])
        steps.append(SpaceCropForegroundd(keys=["label"], source_key="image", select_fn=select, margin=crop["margin"], **points))
    elif crop is not None:
        steps.append(SpaceCropd(keys=["label"], roi_start=crop["start"], roi_end=crop["end"], **points))
    if "spacing" in grid:
        steps.append(SpaceResampled(keys=["label"], pixdim=grid["spacing"], align="centers", mode="nearest", **points))
    else:
        steps.append(SpaceResampled(keys=["label"], spatial_size=grid["size"], align="edges", mode="nearest", **points))
    names = [type(s).__name__ for s in steps] + ["SpaceInvertd"]
    progress("monai-spacetx: crop + resample the label into the working grid")
    started = time.perf_counter()
    out = Compose(steps)(data)
    working = get_space(out["label"])
    assert isinstance(working, Space)  # one sample, not a batch
    out["pred"] = out["label"]  # a perfect model: the label as the pipeline carried it
    progress("monai-spacetx: map the prediction back (nearest)")
    back = SpaceInvertd(keys="pred", orig_keys="label", mode="nearest", **points)(out)
    seconds = time.perf_counter() - started
    result = PipelineResult(
        name="monai-spacetx",
        steps=" + ".join(names),
        working_shape=tuple(working.shape),
        native_shape=tuple(back["pred"].shape[1:]),
        score=None,
        back=to_numpy(back["pred"])[0],
        seconds=seconds,
    )
    if world is not None:
        result.landmark_mm = np.linalg.norm(native.index_to_world(to_numpy(back["landmarks"]).astype(np.float64)) - world, axis=1)
        result.landmarks_outside = int(np.count_nonzero(~to_numpy(out["landmarks_in_grid"]).astype(bool)))
    del back
    return result, working, out


def _ours_label_mode(out: Any, progress: Progress) -> np.ndarray:
    from .transforms import SpaceInvertd

    progress("monai-spacetx: map the prediction back (mode='label')")
    back: np.ndarray = to_numpy(SpaceInvertd(keys="pred", orig_keys="label", mode="label")(out)["pred"])[0]
    return back


def _ours_probabilities(out: Any, label: np.ndarray, native: Space, working: Space, progress: Progress) -> np.ndarray:
    """A soft stand-in prediction mapped back as probabilities.

    The prediction is what an ideal model would output on the working grid: each class's
    share of the working voxel (the native one-hot resampled linearly with anti-aliasing, i.e.
    partial volume). It goes back with ``SpaceInvertd(argmax=True)``: linear, then argmax.
    """
    import torch

    from .engine import warp_image
    from .engine.options import WarpOptions
    from .transforms import SpaceInvertd

    progress("monai-spacetx: map soft probabilities back (argmax=True)")
    classes = np.unique(label)
    onehot = torch.from_numpy(label[None] == classes.reshape(-1, *[1] * label.ndim)).to(torch.float32)
    soft = warp_image(onehot, native, working, options=WarpOptions.parse("linear", "border", anti_aliasing=True))
    index = SpaceInvertd(keys="pred", orig_keys="label", argmax=True)({"label": out["label"], "pred": soft})["pred"]
    back: np.ndarray = classes[to_numpy(index)[0].astype(np.int64)]
    return back


def _monai(data: dict[str, Any], crop: Optional[dict[str, Any]], grid: dict[str, Any], world: Optional[np.ndarray], progress: Progress) -> PipelineResult:
    from monai.data import MetaTensor
    from monai.transforms import Compose, CropForegroundd, Invertd, Resized, Spacingd, SpatialCropd

    from .geometry.points import apply_affine

    steps: list[Any] = []
    if crop is not None and "threshold" in crop:
        steps.append(CropForegroundd(keys=["label"], source_key="image", select_fn=_Above(crop["threshold"]), margin=crop["margin"]))
    elif crop is not None:
        steps.append(SpatialCropd(keys=["label"], roi_start=crop["start"], roi_end=crop["end"]))
    if "spacing" in grid:
        steps.append(Spacingd(keys=["label"], pixdim=grid["spacing"], mode="nearest"))
    else:
        steps.append(Resized(keys=["label"], spatial_size=grid["size"], mode="nearest"))
    pipeline = Compose(steps)
    progress("MONAI: crop + resample the label into the working grid")
    started = time.perf_counter()
    out = pipeline(data)
    working_shape = tuple(int(n) for n in out["label"].shape[1:])
    working_affine = to_numpy(out["label"].affine).astype(np.float64)
    out["pred"] = MetaTensor(out["label"].as_tensor())  # a model's output: a fresh MetaTensor
    progress("MONAI: map the prediction back (Invertd, nearest_interp=True)")
    back = Invertd(keys="pred", transform=pipeline, orig_keys="label", nearest_interp=True)(out)
    del out
    seconds = time.perf_counter() - started
    back_label = to_numpy(back["pred"])[0]
    result = PipelineResult(
        name="MONAI",
        steps=" + ".join([type(s).__name__ for s in steps] + ["Invertd"]),
        working_shape=working_shape,
        native_shape=tuple(back_label.shape),
        score=None,
        back=back_label,
        seconds=seconds,
    )
    if world is not None:  # as a MONAI user: world -> working index through the working affine, and back
        ndim = world.shape[1]
        matrix = np.eye(ndim + 1)
        matrix[:ndim, :ndim], matrix[:ndim, ndim] = working_affine[:ndim, :ndim], working_affine[:ndim, -1]
        working_index = apply_affine(np.linalg.inv(matrix), world)
        result.landmark_mm = np.linalg.norm(apply_affine(matrix, working_index) - world, axis=1)
        shape = np.asarray(working_shape, dtype=np.float64)
        result.landmarks_outside = int(np.count_nonzero(~np.all((working_index >= -0.5) & (working_index <= shape - 0.5), axis=1)))
    return result


def compare_roundtrip(
    data: dict[str, Any],
    *,
    crop: Optional[dict[str, Any]] = None,
    spacing: Optional[Sequence[float]] = None,
    size: Optional[Sequence[int]] = None,
    landmarks_world: Optional[np.ndarray] = None,
    with_monai: bool = True,
    progress: Progress = _quiet,
    probabilities: bool = False,
) -> RoundTrip:
    """Carry ``data["label"]`` into a working grid and back, ours and MONAI's, and score both.

    Args:
        data: ``{"image": MetaTensor (1, *spatial), "label": MetaTensor (1, *spatial)}``, as
            ``LoadImaged(ensure_channel_first=True)`` returns them, on the same grid; not mutated.
        crop: ``None``, ``{"start": (...), "end": (...)}`` (an index box, end exclusive) or
            ``{"threshold": t, "margin": m}`` (the bounding box of ``image > t`` grown by ``m``).
        spacing: working voxel spacing (corner voxel centres kept, MONAI ``Spacingd``), or
        size: working grid shape (field-of-view edges kept, MONAI ``Resized``).
        landmarks_world: ``(N, D)`` world points in the frame of ``data["image"].affine``.
        with_monai: also run MONAI's pipeline.
        progress: called with a short text before each long step.
        probabilities: also map back a soft stand-in prediction (each class's share of every
            working voxel: the native one-hot resampled with anti-aliasing) as probabilities with
            ``SpaceInvertd(argmax=True)``, scored in ``results[0].probabilities``.

    Returns:
        A :class:`RoundTrip`; each result is scored inside and outside the working grid of
        our pipeline (MONAI's covers the same field of view).
    """
    parts = [data.get(k) for k in ("image", "label")] if isinstance(data, dict) else [None]
    if not all(getattr(x, "affine", None) is not None and getattr(x, "ndim", 0) in (3, 4) for x in parts):
        raise SpaceTypeError(
            "data must be {'image': MetaTensor, 'label': MetaTensor}, each (1, *spatial) with 2 or 3 spatial axes, as "
            f"LoadImaged(ensure_channel_first=True) returns them; got {type(data).__name__} "
            f"{ {k: type(v).__name__ for k, v in data.items()} if isinstance(data, dict) else data!r:.80}"
        )
    image = data["image"]
    ndim = image.ndim - 1
    grid = _grid_args(ndim, spacing, size)
    native = Space.from_metatensor(image)
    label = to_numpy(data["label"])[0]
    ours, working, out = _ours(copy.deepcopy(data), crop, grid, landmarks_world, progress)
    progress("scoring: which native voxels the working grid covers")
    inside = working_grid_mask(native, working)
    ours.score = score_labels(ours.back, label, inside)
    ours.label_mode = score_labels(_ours_label_mode(out, progress), label, inside)
    if probabilities:
        ours.probabilities = score_labels(_ours_probabilities(out, label, native, working, progress), label, inside)
    del out
    gc.collect()  # free the working-grid tensors before MONAI allocates its own
    result = RoundTrip(native=native, working=working, inside=inside, label=label, results=[ours])
    if with_monai:
        theirs = _monai(copy.deepcopy(data), crop, grid, landmarks_world, progress)
        if theirs.back is not None and theirs.back.shape == label.shape:
            theirs.score = score_labels(theirs.back, label, inside)
        else:
            theirs.note = f"mapped back to shape {theirs.native_shape}, not the native {label.shape}"
        result.results.append(theirs)
    return result
