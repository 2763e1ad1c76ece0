"""Random chains of MONAI's lazy spatial transforms and ours, checked against eager MONAI and brute force.

Each chain starts from an oblique, anisotropic (sometimes sheared) 2-D or 3-D sample (a smooth
image, a multi-class uint8 label, landmarks), takes 1-5 random steps from MONAI's transforms that
support lazy execution and from ours, and ends with our sink. It runs eagerly (each step's output
grid kept) and under ``Compose(lazy=True)`` with the same random draws, and :func:`check_chain`
asks:

1. the lazy chain runs (no refusal: sheared grids included);
2. its grid is the eager chain's (shape, affine);
3. the label equals the brute-force nearest sample of the input label on that grid
   (``oracles.py``), zero beyond every intermediate grid (what the eager chain's zeros padding
   left there; a centre on a grid's edge is beyond it by the tie rule in the frame of the grid
   whose voxels it holds, :func:`held_windows`): one resample, centre-consistent, a crop never
   reading what an earlier one removed;
4. the image is that oracle's sample with the mode the chain asked for: nearest when any
   interpolating step asked for nearest (or none interpolates), else multilinear (compared where
   every tap lies inside the input, to float32 round-off);
5. the landmarks sit at the same world points, to 1e-9 voxel.

(MONAI's random zoom, rotation and affine, when they do not fire, replace the tensor by a float32
copy; a lazy Space step's output is then no longer recognised and the sink resamples it a second
time (README, known limits): they fire here. MONAI's ``CropForegroundd`` needs the current data, so
MONAI's ``Compose`` executes what is pending before it with its own resampler: ours stand in for it
in the sampling family below, which also varies the dtypes.)

The box family (:func:`check_box_chain`, ``--boxes``): the same kinds of chains, our steps carrying
three boxes as oriented corners, eager and lazy; their corners keep their world points (1e-9 voxel),
the in-grid flags hold, and lazily the boxes hold the voxels of their mask carried by one nearest
resample (``tests/test_boxes.py`` runs a few dozen).

The sampling family (:func:`check_sampling_chain`, ``--sampling``): 0-3 random steps (MONAI's and
ours, pending), then a crop that reads the data (``SpaceCropForegroundd`` or one of the sampling
crops, 1-3 samples), then copies and at most one interpolating step, run under ``Compose(lazy=True)``
on float16/32/64 or int16 images and uint8/int16/bool labels. MONAI's resampler must never run;
each sample's label and image are one resample per segment (from the input to the grid the crop
cut, zeros beyond every intermediate grid, then to the sample's grid) by the brute-force oracles,
the dtypes are kept (nearest) or float (an interpolated integer image), the landmarks keep their
world points.

Not collected by pytest; ``tests/test_chains.py`` runs a few hundred seeded chains, and

    python tests/chains.py --n 5000

runs as many as you ask and prints the failures by kind (``--boxes``: the box family,
``--sampling``: the sampling family).
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import (
    Affined,
    BorderPadd,
    CenterSpatialCropd,
    Compose,
    DivisiblePadd,
    Flipd,
    Orientationd,
    RandAffined,
    RandAxisFlipd,
    RandFlipd,
    RandRotate90d,
    RandRotated,
    RandSpatialCropd,
    RandZoomd,
    Resized,
    ResizeWithPadOrCropd,
    Rotate90d,
    Rotated,
    Spacingd,
    SpatialCropd,
    SpatialPadd,
    Zoomd,
)
from monai.transforms.transform import apply_transform

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))  # the checkout this file sits in, not another installed copy
import oracles  # noqa: E402
from monai_spacetx.transforms.dictionary import _PointsMixin  # noqa: E402  (the box family gives our steps box keys)

from monai_spacetx import (  # noqa: E402
    EmptyBoxError,
    SpaceApplyPendingd,
    SpaceCropd,
    SpaceCropForegroundd,
    SpaceRandCropByLabelClassesd,
    SpaceRandCropByPosNegLabeld,
    SpaceRandWeightedCropd,
    SpaceResampled,
    SpaceResized,
    SpaceSpacingd,
    SpaceZoomd,
)

KEYS = ["image", "label"]
POINTS = "points"


def random_sample(rng: np.random.Generator, ndim: int) -> dict[str, Any]:
    """An oblique, anisotropic grid (a third of them sheared), a smooth image, a 4-class label, 5 landmarks."""
    shape = tuple(int(n) for n in rng.integers(8, 19, ndim))
    q, _ = np.linalg.qr(rng.normal(size=(ndim, ndim)))
    linear = q @ np.diag(rng.uniform(0.5, 2.5, ndim))
    if rng.random() < 0.33:
        linear = linear @ (np.eye(ndim) + np.triu(rng.uniform(-0.4, 0.4, (ndim, ndim)), 1))
    affine = np.eye(4)
    rows = list(range(ndim)) + [3]
    affine[np.ix_(rows, rows)] = np.block([[linear, rng.uniform(-200, 200, (ndim, 1))], [np.zeros((1, ndim)), np.ones((1, 1))]])
    grid = np.indices(shape).astype(np.float64)
    image = sum(np.sin(rng.uniform(0.2, 0.7) * g + rng.uniform(0, 3)) for g in grid)
    label = ((grid[0] // 3 + 2 * (grid[1] > shape[1] / 2) + (rng.random(shape) < 0.05)) % 4).astype(np.uint8)
    meta = {"original_affine": torch.as_tensor(affine), "spatial_shape": np.array(shape)}
    return {
        "image": MetaTensor(torch.as_tensor(image[None], dtype=torch.float32), affine=torch.as_tensor(affine), meta=dict(meta)),
        "label": MetaTensor(torch.as_tensor(label[None]), affine=torch.as_tensor(affine), meta=dict(meta)),
        POINTS: rng.uniform(0, np.array(shape) - 1, (5, ndim)),
    }


def _modes(rng: np.random.Generator, choices: list[Any]) -> tuple[Any, str]:
    return (choices[int(rng.integers(len(choices)))], "nearest")


def random_step(rng: np.random.Generator, ndim: int) -> Any:
    """One step: a MONAI transform that executes lazily (zeros/constant padding), or one of ours."""
    linear = "bilinear" if ndim == 2 else "trilinear"
    size = lambda lo, hi: [int(n) for n in rng.integers(lo, hi, ndim)]  # noqa: E731
    angle = lambda r: float(rng.uniform(-r, r)) if ndim == 2 else [float(a) for a in rng.uniform(-r, r, 3)]  # noqa: E731
    axes = [int(a) for a in rng.choice(ndim, 2, replace=False)]
    makers: list[Callable[[], Any]] = [
        lambda: Spacingd(KEYS, pixdim=rng.uniform(0.5, 2.0, ndim).tolist(), mode=_modes(rng, ["bilinear", "nearest", 1, 0]), padding_mode="zeros"),
        lambda: Orientationd(KEYS, axcodes="".join(rng.permutation(list("RAS"))[:ndim]) if ndim == 3 else str(rng.choice(["RA", "LP", "AR", "PL"]))),
        lambda: Flipd(KEYS, spatial_axis=[None, 0, 1, [0, 1]][int(rng.integers(4))]),
        lambda: RandFlipd(KEYS, prob=0.5, spatial_axis=int(rng.integers(ndim))),
        lambda: RandAxisFlipd(KEYS, prob=0.7),
        lambda: Rotate90d(KEYS, k=int(rng.integers(1, 4)), spatial_axes=axes),
        lambda: RandRotate90d(KEYS, prob=0.7, max_k=3, spatial_axes=axes),
        lambda: Resized(KEYS, spatial_size=size(6, 24), mode=_modes(rng, [linear, "area", "nearest-exact"])),
        lambda: Zoomd(KEYS, zoom=float(rng.uniform(0.6, 1.6)), mode=_modes(rng, [linear, "area", "nearest"]), keep_size=bool(rng.random() < 0.5), padding_mode="constant"),
        lambda: RandZoomd(KEYS, prob=1.0, min_zoom=0.7, max_zoom=1.4, mode=_modes(rng, [linear, "nearest"]), keep_size=False),
        lambda: Rotated(KEYS, angle=angle(0.6), keep_size=bool(rng.random() < 0.5), mode=_modes(rng, ["bilinear", "nearest"]), padding_mode="zeros"),
        lambda: RandRotated(KEYS, range_x=0.5, range_y=0.3, range_z=0.3, prob=1.0, mode=_modes(rng, ["bilinear", "nearest"]), padding_mode="zeros"),
        lambda: Affined(KEYS, rotate_params=angle(0.4), scale_params=rng.uniform(0.7, 1.3, ndim).tolist(), shear_params=rng.uniform(-0.2, 0.2, 2 if ndim == 2 else 6).tolist(), mode=_modes(rng, ["bilinear", "nearest"]), padding_mode="zeros"),
        lambda: RandAffined(KEYS, prob=1.0, rotate_range=0.4, scale_range=0.2, shear_range=0.1, translate_range=2.0, mode=_modes(rng, ["bilinear", "nearest"]), padding_mode="zeros"),
        lambda: SpatialCropd(KEYS, roi_start=size(0, 3), roi_end=size(6, 16)),
        lambda: CenterSpatialCropd(KEYS, roi_size=size(5, 14)),
        lambda: RandSpatialCropd(KEYS, roi_size=size(5, 12), random_size=False),
        lambda: SpatialPadd(KEYS, spatial_size=size(10, 22)),
        lambda: BorderPadd(KEYS, spatial_border=int(rng.integers(1, 3))),
        lambda: DivisiblePadd(KEYS, k=int(rng.integers(2, 8))),
        lambda: ResizeWithPadOrCropd(KEYS, spatial_size=size(6, 20)),
        lambda: SpaceResampled(KEYS, pixdim=rng.uniform(0.5, 2.0, ndim).tolist(), mode=("bilinear", "nearest"), padding_mode="zeros", point_keys=POINTS),
        lambda: SpaceCropd(KEYS, roi_start=size(-1, 3), roi_end=size(6, 16), point_keys=POINTS),
        lambda: SpaceSpacingd(KEYS, pixdim=rng.uniform(0.5, 2.0, ndim).tolist(), mode=("bilinear", "nearest"), padding_mode="zeros", point_keys=POINTS),
        lambda: SpaceResized(KEYS, spatial_size=size(6, 24), mode=(linear, "nearest"), point_keys=POINTS),
        lambda: SpaceZoomd(KEYS, zoom=float(rng.uniform(0.6, 1.6)), mode=(linear, "nearest"), padding_mode="constant", keep_size=bool(rng.random() < 0.5), point_keys=POINTS),
    ]
    return makers[int(rng.integers(len(makers)))]()


def random_chain(seed: int) -> tuple[dict[str, Any], list[Any]]:
    """The sample and the steps of chain ``seed`` (the sink is added by :func:`check_chain`)."""
    rng = np.random.default_rng(seed)
    ndim = 2 + int(rng.integers(2))
    return random_sample(rng, ndim), [random_step(rng, ndim) for _ in range(int(rng.integers(1, 6)))]


def _affine(x: Any, ndim: int) -> np.ndarray:
    return oracles.affine_of(x, ndim)


def _copies(before: np.ndarray, after: np.ndarray) -> bool:
    """Whether the index map between two grids is an integer shift with flips/permutations (no interpolation)."""
    ndim = before.shape[0] - 1
    m = np.linalg.solve(before, after)
    rounded = np.round(m)
    axes = np.abs(rounded[:ndim, :ndim])
    return bool(np.abs(m - rounded).max() < 1e-6 and (axes.sum(0) == 1).all() and (axes.sum(1) == 1).all())


def held_windows(grids: list[tuple[np.ndarray, tuple[int, ...]]]) -> list[tuple[np.ndarray, tuple[int, ...]]]:
    """The grids a chain's data passed through (the input first), each as the window of voxels it holds on the
    lattice of the grid that computed them: the input, or the last grid whose step interpolated.

    The tie rule for a centre on a grid's edge (``floor(x + 0.5)``: the higher index) depends on which way
    the grid's axes point, and a crop, pad, flip or permutation only moves voxels: it decides no tie. So
    whether a target centre lies beyond a grid is asked in the frame of the voxels' own grid (the one the
    fused nearest reads in when it is the input): a flipped crop's far edge is the near edge of the crop,
    and a chain gives the same voxels with or without the flip (docs/conventions.md section 5). Chain
    100653 put a centre on a crop's edge seen through a reorientation.
    """
    out = [grids[0]]
    frame = grids[0][0]
    for affine, shape in grids[1:]:
        if _copies(frame, affine):  # an integer map: this grid's voxels are a box of the frame's
            ndim = len(shape)
            corners = np.array(np.meshgrid(*[(0.0, n - 1.0) for n in shape], indexing="ij")).reshape(ndim, -1)
            m = np.linalg.solve(frame, affine)
            mapped = np.round(m[:ndim, :ndim] @ corners + m[:ndim, ndim:]).astype(np.int64)
            low, high = mapped.min(axis=1), mapped.max(axis=1)
            shift = np.eye(ndim + 1)
            shift[:ndim, ndim] = low
            affine, shape = frame @ shift, tuple(int(n) for n in high - low + 1)
        out.append((affine, shape))
        frame = affine
    return out


def _asked_nearest(step: Any) -> bool | None:
    """Whether a step asked for nearest on the image (``None``: it names no image mode)."""
    if isinstance(step, (SpaceResampled, SpaceSpacingd, SpaceResized, SpaceZoomd)):
        return False  # asked for bilinear on the image
    mode = getattr(step, "mode", None)  # MONAI's dictionary transforms keep one mode per key, images first here
    if mode is None:
        return None
    first = mode[0] if isinstance(mode, (list, tuple)) else mode
    return str(first).startswith("nearest") or (not isinstance(first, str) and first == 0)


def check_chain(seed: int) -> list[str]:
    """The failures of chain ``seed`` (empty: it passed); see the module docstring."""
    sample, steps = random_chain(seed)
    ndim = len(sample["image"].shape) - 1
    chain_steps = [*steps, SpaceApplyPendingd(KEYS, point_keys=POINTS)]
    eager_chain, lazy_chain = Compose(chain_steps), Compose(chain_steps, lazy=True)
    eager_chain.set_random_state(seed)  # the same steps in both: seeded again before each run
    names = " -> ".join(type(s).__name__ for s in steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data, grids, asked = random_chain(seed)[0], [_affine(sample["image"], ndim)], []
        shapes = [tuple(sample["image"].shape[1:])]
        try:
            for step in eager_chain.transforms:
                data = apply_transform(step, data)
                before, after = grids[-1], _affine(data["image"], ndim)
                if not _copies(before, after):  # a step that interpolates votes (a copy has no say)
                    asked.append(_asked_nearest(step))
                grids.append(after)
                shapes.append(tuple(data["image"].shape[1:]))
        except Exception:  # MONAI's own eager chain refuses it (e.g. a crop to nothing): nothing to hold us to
            return []
        lazy_chain.set_random_state(seed)
        try:
            out = lazy_chain(random_chain(seed)[0])
        except Exception:
            return [f"refused: {names}: {traceback.format_exc(limit=-2).strip().splitlines()[-1]}"]
    failures = []
    final = _affine(out["image"], ndim)
    if tuple(out["image"].shape[1:]) != shapes[-1] or not np.allclose(final, grids[-1], atol=1e-6 * max(1, np.abs(final).max())):
        return [f"grid: {names}: lazy {tuple(out['image'].shape[1:])} vs eager {shapes[-1]}"]
    target = tuple(out["image"].shape[1:])
    beyond = np.zeros(target, dtype=bool)
    for affine, shape in held_windows(list(zip(grids, shapes)))[1:-1]:  # the voxel each centre falls in, by the tie rule
        voxel = np.floor(oracles.source_coordinates(affine, final, target) + 0.5)
        beyond |= ~np.all((voxel >= 0) & (voxel < np.array(shape)[:, None]), axis=0).reshape(target)
    label = oracles.nearest(sample["label"][0].numpy(), sample["label"].affine, final, target)
    label[beyond] = 0
    if (wrong := oracles.wrong(out["label"][0], label)) != 0:
        failures.append(f"label {wrong} wrong: {names}")
    votes = [a for a in asked if a is not None]
    image = sample["image"][0].numpy()
    ours = out["image"][0].numpy()
    if not votes or any(votes):
        expected = oracles.nearest(image, sample["image"].affine, final, target)
        expected[beyond] = 0
        if (wrong := int((ours != expected).sum())) != 0:
            failures.append(f"image (nearest) {wrong} differ: {names}")
    else:
        expected = oracles.interpolate(image, sample["image"].affine, final, target, order=1)
        x = oracles.source_coordinates(sample["image"].affine, final, target)
        interior = np.all((x >= 0) & (x <= np.array(image.shape)[:, None] - 1), axis=0).reshape(target) & ~beyond
        if interior.any() and (err := float(np.abs(ours[interior] - expected[interior]).max())) > 5e-5:
            failures.append(f"image (linear) off by {err:.3g}: {names}")
    world_in = oracles.affine_of(sample["image"], ndim) @ np.c_[sample[POINTS], np.ones(len(sample[POINTS]))].T
    points = np.asarray(out[POINTS], dtype=np.float64)
    world_out = final @ np.c_[points, np.ones(len(points))].T
    voxel = np.abs(np.linalg.solve(final, world_out - world_in)[:ndim]).max()
    if not voxel <= 1e-9:
        failures.append(f"landmarks off by {voxel:.3g} voxel: {names}")
    return failures


BOXES = "boxes"


def _box_step(rng: np.random.Generator, ndim: int) -> Any:
    """A step of :func:`random_step`; ours (every landmark-moving Space step) carry the boxes too, as
    oriented corners (``box_format="corners"``), so rotations stay exact."""
    step = random_step(rng, ndim)
    if isinstance(step, _PointsMixin):
        step._init_points(step.point_keys, step.point_coords, BOXES, None, "index", "corners")
    return step


def random_box_chain(seed: int) -> tuple[dict[str, Any], list[Any]]:
    """Chain ``seed`` of the box family: :func:`random_chain`'s sample with 3 boxes (integer edges,
    MONAI's standard mode, voxel ``i`` spanning ``[i, i + 1)``), and steps whose Space steps carry them."""
    rng = np.random.default_rng(10_000_000 + seed)
    ndim = 2 + int(rng.integers(2))
    sample = random_sample(rng, ndim)
    shape = np.array(sample["image"].shape[1:])
    low = np.stack([rng.integers(0, n - 2, 3) for n in shape], axis=1)
    high = low + np.stack([rng.integers(1, np.minimum(n - lo, 7) + 1) for n, lo in zip(shape, low.T)], axis=1)
    sample[BOXES] = np.concatenate([low, high], axis=1).astype(np.float64)
    return sample, [_box_step(rng, ndim) for _ in range(int(rng.integers(1, 6)))]


def _box_world_corners(boxes: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """``(N, 2^D, D)`` world corners of boxes (or corners) in box coordinates, by the raw affine (the half voxel)."""
    ndim = affine.shape[0] - 1
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.ndim == 2:
        bits = np.array(np.meshgrid(*[[0, 1]] * ndim, indexing="ij")).reshape(ndim, -1).T.astype(bool)
        arr = np.where(bits[None], arr[:, None, ndim:], arr[:, None, :ndim])
    return (arr - 0.5) @ affine[:ndim, :ndim].T + affine[:ndim, ndim]


def _centres_in_corners(corners: np.ndarray, shape: tuple[int, ...], closed: bool) -> np.ndarray:
    """Voxels whose centres (box coordinates ``i + 0.5``) lie in any of the parallelepipeds, with or without the boundary."""
    ndim = len(shape)
    centres = np.indices(shape).reshape(ndim, -1).T + 0.5
    inside = np.zeros(len(centres), dtype=bool)
    for c in corners:
        u = np.linalg.solve(np.stack([c[2 ** (ndim - 1 - k)] - c[0] for k in range(ndim)], axis=1), (centres - c[0]).T).T
        inside |= np.all((u >= -1e-9) & (u <= 1 + 1e-9), axis=1) if closed else np.all((u > 1e-9) & (u < 1 - 1e-9), axis=1)
    return inside.reshape(shape)


def check_box_chain(seed: int) -> list[str]:
    """The failures of box chain ``seed``: eager and lazy, the boxes' corners sit at the same world points (1e-9
    voxel) on the grid they are said to be on, the in-grid flags say whether they lie in it, and (lazy, on the
    final grid) the boxes hold exactly the voxels of their mask carried there by one nearest resample."""
    sample, steps = random_box_chain(seed)
    ndim = len(sample["image"].shape) - 1
    sink = SpaceApplyPendingd(KEYS, point_keys=POINTS, box_keys=BOXES, box_format="corners")
    names = " -> ".join(type(s).__name__ for s in steps)
    world_in = _box_world_corners(sample[BOXES], _affine(sample["image"], ndim))
    failures = []
    for lazy in (False, True):
        chain = Compose([*steps, sink], lazy=lazy)
        chain.set_random_state(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = random_box_chain(seed)[0]
            grid = (_affine(data["image"], ndim), tuple(data["image"].shape[1:]))  # eager: where our last step left them
            try:
                for step in chain.transforms if not lazy else [chain]:
                    data = apply_transform(step, data)
                    if not lazy and isinstance(step, _PointsMixin) and step is not sink:  # eager: boxes stay where our last step left them
                        grid = (_affine(data["image"], ndim), tuple(data["image"].shape[1:]))
            except Exception:
                if not lazy:
                    return []  # MONAI's own eager chain refuses it: nothing to hold us to
                return [f"refused: {names}: {traceback.format_exc(limit=-2).strip().splitlines()[-1]}"]
        if lazy:
            grid = (_affine(data["image"], ndim), tuple(data["image"].shape[1:]))
        affine, shape = grid
        corners = _box_world_corners(np.asarray(data[BOXES], dtype=np.float64), np.eye(ndim + 1)) + 0.5  # boxes unmoved stay boxes
        world_out = _box_world_corners(corners, affine)
        voxel = np.abs(np.linalg.solve(affine[:ndim, :ndim], (world_out - world_in).reshape(-1, ndim).T)).max()
        if not voxel <= 1e-9:
            failures.append(f"boxes off by {voxel:.3g} voxel ({'lazy' if lazy else 'eager'}): {names}")
            continue
        inside = np.all((corners >= -1e-9) & (corners <= np.array(shape) + 1e-9), axis=(1, 2))
        if BOXES + "_in_grid" in data and not np.array_equal(np.asarray(data[BOXES + "_in_grid"]), inside):
            failures.append(f"boxes in-grid flags wrong ({'lazy' if lazy else 'eager'}): {names}")
        if lazy:
            in_box_coordinates = _box_world_corners(sample[BOXES], np.eye(ndim + 1)) + 0.5  # the corners themselves
            mask = _centres_in_corners(in_box_coordinates, tuple(sample["image"].shape[1:]), False)  # the boxes' voxels
            carried = oracles.nearest(mask.astype(np.uint8), sample["image"].affine, affine, shape).astype(bool)
            strict, closed = _centres_in_corners(corners, shape, False), _centres_in_corners(corners, shape, True)
            if (strict & ~carried).any() or (carried & ~closed).any():
                failures.append(f"boxes vs carried mask {int((strict & ~carried).sum() + (carried & ~closed).sum())} voxels: {names}")
    return failures


# ---- the sampling family: crops that read the data, several samples, other dtypes -----------------

#: what the data-reading crops record as the grid they cut (their record's ``target``)
READERS = ("SpaceRandCropByPosNegLabel", "SpaceRandCropByLabelClasses", "SpaceRandWeightedCrop", "SpaceCropForeground")
DTYPES = {"image": [torch.float32, torch.float16, torch.float64, torch.int16], "label": [torch.uint8, torch.int16, torch.bool]}


def _reader(rng: np.random.Generator, ndim: int) -> Any:
    """A crop that reads the data: one of ours standing in for MONAI's (several samples, or a foreground crop)."""
    size = [int(n) for n in rng.integers(3, 9, ndim)]
    n = int(rng.integers(1, 4))
    makers: list[Callable[[], Any]] = [
        lambda: SpaceRandCropByPosNegLabeld(KEYS, "label", size, pos=1, neg=float(rng.integers(0, 2)), num_samples=n, image_key="image", image_threshold=-0.5, allow_smaller=True, point_keys=POINTS),
        lambda: SpaceRandCropByLabelClassesd(KEYS, "label", size, ratios=[1, 1, 1, 1], num_classes=4, num_samples=n, allow_smaller=True, warn=False, point_keys=POINTS),
        lambda: SpaceRandWeightedCropd(KEYS, "label", size, num_samples=n, point_keys=POINTS),
        lambda: SpaceCropForegroundd(KEYS, source_key="label", margin=int(rng.integers(0, 3)), point_keys=POINTS),
    ]
    return makers[int(rng.integers(len(makers)))]()


def _after_reader(rng: np.random.Generator, ndim: int) -> list[Any]:
    """0-3 steps after the read: copies, and at most one step that interpolates (zeros padding)."""
    axes = [int(a) for a in rng.choice(ndim, 2, replace=False)]
    copies: list[Callable[[], Any]] = [
        lambda: Flipd(KEYS, spatial_axis=int(rng.integers(ndim))),
        lambda: RandFlipd(KEYS, prob=0.5, spatial_axis=int(rng.integers(ndim))),
        lambda: Rotate90d(KEYS, k=int(rng.integers(1, 4)), spatial_axes=axes),
        lambda: RandRotate90d(KEYS, prob=0.7, max_k=3, spatial_axes=axes),
    ]
    warps: list[Callable[[], Any]] = [
        lambda: RandAffined(KEYS, prob=1.0, rotate_range=0.4, scale_range=0.2, mode=_modes(rng, ["bilinear", "nearest"]), padding_mode="zeros"),
        lambda: Rotated(KEYS, angle=float(rng.uniform(-0.5, 0.5)) if ndim == 2 else [float(a) for a in rng.uniform(-0.5, 0.5, 3)], keep_size=True, mode=_modes(rng, ["bilinear", "nearest"]), padding_mode="zeros"),
        lambda: SpaceResampled(KEYS, pixdim=rng.uniform(0.5, 2.0, ndim).tolist(), mode=("bilinear", "nearest"), padding_mode="zeros", point_keys=POINTS),
    ]
    steps = [copies[int(rng.integers(len(copies)))]() for _ in range(int(rng.integers(0, 3)))]
    if rng.random() < 0.6:
        steps.insert(int(rng.integers(len(steps) + 1)), warps[int(rng.integers(len(warps)))]())
    return steps


def random_sampling_chain(seed: int) -> tuple[dict[str, Any], list[Any], list[Any], dict[str, torch.dtype]]:
    """Sample, the steps before the read (MONAI's and ours, pending), the read and the steps after it, the dtypes."""
    rng = np.random.default_rng(10**6 + seed)
    ndim = 2 + int(rng.integers(2))
    sample = random_sample(rng, ndim)
    before = [random_step(rng, ndim) for _ in range(int(rng.integers(0, 4)))]
    after = [_reader(rng, ndim), *_after_reader(rng, ndim)]
    dtypes = {key: choices[int(rng.integers(len(choices)))] for key, choices in DTYPES.items()}
    return sample, before, after, dtypes


def _cast(sample: dict[str, Any], dtypes: dict[str, torch.dtype]) -> dict[str, Any]:
    out = dict(sample)
    for key, dtype in dtypes.items():
        values = sample[key].as_tensor()
        if dtype == torch.int16 and key == "image":
            values = values * 1000  # integer intensities with some range
        if dtype == torch.bool:
            values = values > 1  # two classes
        meta = {name: value for name, value in sample[key].meta.items() if name != "affine"}  # given once, below
        out[key] = MetaTensor(values.to(dtype), affine=sample[key].affine, meta=meta)
    return out


def _segment(values: np.ndarray, source: np.ndarray, target: np.ndarray, shape: tuple[int, ...], nearest: bool, beyond: np.ndarray) -> np.ndarray:
    """One resample by the oracles: nearest (0 outside), or multilinear with NaN where a tap leaves the data or the voxel lies beyond."""
    if nearest:
        out = oracles.nearest(values, source, target, shape).astype(np.float64)
        out[beyond] = 0
        return out
    x = oracles.source_coordinates(source, target, shape)
    interior = np.all((x >= 0) & (x <= np.array(values.shape)[:, None] - 1), axis=0).reshape(shape)
    finite = np.isfinite(values)
    out = oracles.interpolate(np.where(finite, values, 0.0), source, target, shape, order=1)
    if not finite.all():  # a tap on a NaN: unknown
        near = oracles.interpolate((~finite).astype(np.float64), source, target, shape, order=1)
        out[near > 0] = np.nan
    out[~interior] = np.nan
    out[beyond] = 0
    return out


def _beyond(grids: list[tuple[np.ndarray, tuple[int, ...]]], target: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Target voxels whose centre falls outside one of ``grids`` (the nearest box rule): zeros padding left 0 there."""
    out = np.zeros(shape, dtype=bool)
    for affine, grid_shape in grids:
        voxel = np.floor(oracles.source_coordinates(affine, target, shape) + 0.5)
        out |= ~np.all((voxel >= 0) & (voxel < np.array(grid_shape)[:, None]), axis=0).reshape(shape)
    return out


def check_sampling_chain(seed: int) -> list[str]:
    """The failures of sampling chain ``seed`` (see the module docstring); MONAI's resampler must never run."""
    import monai.transforms.lazy.functional as monai_lazy

    sample, before, after, dtypes = random_sampling_chain(seed)
    ndim = len(sample["image"].shape) - 1
    names = " -> ".join(type(s).__name__ for s in [*before, *after]) + f" ({dtypes['image']}, {dtypes['label']})"
    # the grids before the read, from MONAI's eager chain (seeded as the lazy one: the same draws)
    pre = Compose(before)
    pre.set_random_state(seed)
    grids: list[tuple[np.ndarray, tuple[int, ...]]] = []
    asked: list[bool | None] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data, previous = random_sampling_chain(seed)[0], _affine(sample["image"], ndim)
        try:
            for step in pre.transforms:
                data = apply_transform(step, data)
                now = _affine(data["image"], ndim)
                if not _copies(previous, now):
                    asked.append(_asked_nearest(step))
                grids.append((now, tuple(data["image"].shape[1:])))
                previous = now
        except Exception:  # MONAI's own eager chain refuses it: nothing to hold us to
            return []
        chain = Compose([*before, *after, SpaceApplyPendingd(KEYS, point_keys=POINTS)], lazy=True)
        chain.set_random_state(seed)
        calls = {"monai": 0}
        monai_resample = monai_lazy.resample

        def counted(*args: Any, **kwargs: Any) -> Any:
            calls["monai"] += 1
            return monai_resample(*args, **kwargs)

        monai_lazy.resample = counted
        try:
            out = chain(_cast(random_sampling_chain(seed)[0], dtypes))
        except Exception as err:
            while err.__cause__ is not None:
                err = err.__cause__  # type: ignore[assignment]
            if isinstance(err, EmptyBoxError):  # no foreground left to crop to: MONAI's lazy CropForegroundd raises too
                return []
            return [f"refused: {names}: {traceback.format_exc(limit=-2).strip().splitlines()[-1]}"]
        finally:
            monai_lazy.resample = monai_resample
    failures = [f"monai resampler ran {calls['monai']} times: {names}"] if calls["monai"] else []
    samples = out if isinstance(out, list) else [out]
    source = _affine(sample["image"], ndim)
    label_in = _cast(sample, dtypes)["label"][0].numpy().astype(np.float64)
    image_in = _cast(sample, dtypes)["image"][0].numpy().astype(np.float64)
    votes_before = [a for a in asked if a is not None]
    nearest_before = not votes_before or any(votes_before)
    steps_after = after[1:]
    votes_after = [_asked_nearest(s) for s in steps_after if not isinstance(s, (Flipd, RandFlipd, Rotate90d, RandRotate90d))]
    for sample_out in samples:
        for key in KEYS:
            expected = dtypes[key] if key == "label" or dtypes[key].is_floating_point else torch.float32
            if key == "image" and (not nearest_before or (votes_after and not any(votes_after))) and not dtypes[key].is_floating_point:
                expected = torch.float32
            elif key == "image" and dtypes[key].is_floating_point:
                expected = dtypes[key]
            elif key == "image" and nearest_before and (not votes_after or any(votes_after)):
                expected = dtypes[key]
            if sample_out[key].dtype != expected:
                failures.append(f"{key} dtype {sample_out[key].dtype}, expected {expected}: {names}")
        ops = sample_out["label"].applied_operations
        read = next((op for op in ops if op.get("class") in READERS), None)
        if read is None:
            failures.append(f"no record of the read: {names}")
            continue
        cut = read["extra_info"]["target"]
        from monai_spacetx import Space

        cut_space = Space.from_json(cut)
        cut_affine, cut_shape = _affine(torch.as_tensor(cut_space.to_monai_affine()), ndim), cut_space.shape
        final, shape = _affine(sample_out["image"], ndim), tuple(sample_out["image"].shape[1:])
        beyond_first = _beyond(held_windows([(source, tuple(sample["image"].shape[1:])), *grids])[1:], cut_affine, cut_shape)
        beyond_second = _beyond([(cut_affine, cut_shape)], final, shape)
        label = _segment(_segment(label_in, source, cut_affine, cut_shape, True, beyond_first), cut_affine, final, shape, True, beyond_second)
        if (wrong := int((sample_out["label"][0].numpy().astype(np.float64) != label).sum())) != 0:
            failures.append(f"label {wrong} wrong: {names}")
        nearest_after = not votes_after or any(votes_after)
        first = _segment(image_in, source, cut_affine, cut_shape, nearest_before, beyond_first)
        image = _segment(first, cut_affine, final, shape, nearest_after, beyond_second)
        ours = sample_out["image"][0].numpy().astype(np.float64)
        known = np.isfinite(image)
        scale = 2e-2 * max(1.0, float(np.nanmax(np.abs(image_in)))) if dtypes["image"] == torch.float16 else 5e-5 * max(1.0, float(np.abs(image_in).max()))
        if known.any() and (err := float(np.abs(ours[known] - image[known]).max())) > scale:
            failures.append(f"image off by {err:.3g}: {names}")
        world_in = oracles.affine_of(sample["image"], ndim) @ np.c_[sample[POINTS], np.ones(len(sample[POINTS]))].T
        points = np.asarray(sample_out[POINTS], dtype=np.float64)
        voxel = np.abs(np.linalg.solve(final, final @ np.c_[points, np.ones(len(points))].T - world_in)[:ndim]).max()
        if not voxel <= 1e-9:
            failures.append(f"landmarks off by {voxel:.3g} voxel: {names}")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="how many chains (default 500)")
    parser.add_argument("--seed", type=int, default=0, help="first chain's seed")
    parser.add_argument("--boxes", action="store_true", help="the box family (check_box_chain) instead")
    parser.add_argument("--sampling", action="store_true", help="the sampling family (check_sampling_chain) instead")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)  # MONAI's Orientationd default-argument notice, per chain
    start, failures, kinds = time.perf_counter(), 0, {}
    check = check_box_chain if args.boxes else check_sampling_chain if args.sampling else check_chain
    for seed in range(args.seed, args.seed + args.n):
        for failure in check(seed):
            failures += 1
            kind = failure.split(":")[0].split(" ")[0]
            kinds[kind] = kinds.get(kind, 0) + 1
            print(f"seed {seed}: {failure}")
    print(f"{args.n} chains, {failures} failures {kinds or ''} in {time.perf_counter() - start:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
