"""The engine against its floors and peers, every case at 1 and 2 threads, in one process.

Cases (``--quick``: every grid about 2x coarser per axis, K and channels unchanged):

- ``crop+respace``: a 384x384x200 float32 volume at 0.8x0.8x2.0 mm, cropped to
  [64:320, 64:320, 20:180], linear onto 1.5 mm. Floor: ``F.interpolate`` of the cropped view
  onto the same shape. Peers: SimpleITK ``Resample``, MONAI ``SpatialCrop+Spacing``.
- ``crop+respace int16``: the same on int16 data (ours converts only the cropped box).
- ``map back``: 3 probability channels from that working grid back onto the native grid
  (linear, zero fill). Floor: allocate and fill the output. Peers: SimpleITK (vector image),
  MONAI's ``Invertd`` undoing ``SpatialCropd + Spacingd``.
- ``oblique``: 256^3 -> 200^3 rotated 15 deg about two axes (the general path), linear,
  nearest and cubic. Floors: ``F.grid_sample`` with a precomputed grid (bilinear, nearest).
  Peers: SimpleITK linear / nearest / B-spline. On CPU the general path runs the compiled
  (numba) kernels; "torch path" entries are the same call with them switched off.
- ``oblique 192``: the same at 192^3 -> 150^3 (ours and SimpleITK only).
- ``label K=117``: a 117-class Voronoi label map on the working grid mapped back to the native
  grid. Ours ``label`` vs ours ``nearest``; SimpleITK ``sitkLabelLinear``; nnU-Net-style
  per-class one-hot -> ``F.interpolate`` -> running argmax (one class in memory at a time).
- ``label axis-aligned up`` / ``down``: 2- and 117-class label maps (Voronoi, blocky) on a 1.5 mm
  160x160x100 grid respaced to 0.7 mm / 2.5 mm: ours ``label`` against ours ``nearest``.
- ``upsample x2``: a 2-channel 200x180x120 float32 volume and a uint8 label map, x2: nearest vs linear.
- ``resize any shape``: 256^3 -> 97^3 (scale 256/97, no small period) vs -> 96^3 (3/8, the nearest
  small fraction) and -> 128^3 (1/2), per output voxel.

Times are medians of ``--repeat`` calls after a warm-up, timed round-robin across the entries
of a case (load from other processes hits all alike); "ratio" is time / ours. Peak MiB is the
resident-set high-water mark during one call above the resident size before it (output
included). The load average is printed with each thread count: on a shared machine compare
ratios, not times. Before the cases the compiled kernels' first-call cost is printed: compiled
from scratch (a subprocess with an empty ``NUMBA_CACHE_DIR``) and in this process (normally
loaded from the on-disk cache).

``--busy N`` starts N processes that keep a core busy each for the whole run (MONAI's
DataLoader workers, another job): the case the engine's thread rule
(:mod:`monai_spacetx.engine.threads`) is for.

``--sweep N``: instead of the cases, a seeded sweep of N random 3-D geometries and max(2, N // 2) 2-D
ones (:func:`sweep_geometries`: anisotropic source spacing, rotated 5-40 deg about a random axis, up-
or down-sampled by 0.6-1.6x), ours against SimpleITK in the same process for linear, nearest and
cubic (vs B-spline), and our label mode against our nearest on a 16-class label map; it prints each
geometry's medians and ratios (and the load average when it was timed), then the worst and the median
ratio per mode and thread count, over all geometries and over the 3-D and the 2-D ones apart.

Usage: python benchmarks/bench_resample.py [--quick] [--repeat N] [--threads 1 2] [--busy N] [--cases ...] [--sweep N [--sweep-seed S] [--modes ...]]
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import statistics
import time
from typing import Any, Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from _common import load_average, machine_lines, md_table
from monai_spacetx import Space
from monai_spacetx.engine import compiled, warp_image
from monai_spacetx.geometry.points import index_map

Entry = tuple[str, Callable[[], Any]]


# ----------------------------------------------------------------------------- measuring
def _status_mib(field: str) -> Optional[float]:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def peak_mib(fn: Callable[[], Any]) -> Optional[float]:
    """Peak resident MiB during one call above the resident size before it (Linux only)."""
    gc.collect()
    try:  # hand freed heap pages back to the OS, so that reused memory shows in the peak
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    before = _status_mib("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM
    except OSError:
        return None
    result = fn()
    del result
    peak = _status_mib("VmHWM")
    return None if peak is None or before is None else max(0.0, peak - before)


def set_threads(threads: int) -> None:
    torch.set_num_threads(threads)
    try:
        import SimpleITK as sitk

        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    except ImportError:
        pass


# ----------------------------------------------------------------------------- peers
def sitk_resample(image: np.ndarray, source: Space, target: Space, interpolator: str) -> Optional[Callable[[], Any]]:
    """A SimpleITK ``Resample`` of ``image`` (converted up front) straight onto ``target``; None if not installed."""
    try:
        import SimpleITK as sitk
    except ImportError:
        return None
    from monai_spacetx.interop import lps_ras_flip, to_sitk

    if image.ndim == source.ndim + 1:  # channels -> a vector image
        src = sitk.GetImageFromArray(np.ascontiguousarray(np.moveaxis(image, 0, -1).transpose(2, 1, 0, 3)), isVector=True)
        src.CopyInformation(to_sitk(np.zeros(source.shape, np.float32), source))
    else:
        src = to_sitk(image, source)
    nd = target.ndim
    lps = lps_ras_flip(nd) @ target.affine
    size, spacing = [int(n) for n in target.shape], [float(s) for s in target.spacing]
    origin, direction = [float(v) for v in lps[:nd, nd]], [float(v) for v in (lps[:nd, :nd] / target.spacing).ravel()]
    method = getattr(sitk, interpolator)
    return lambda: sitk.Resample(src, size, sitk.Transform(), method, origin, spacing, direction, 0.0)


def monai_invertd(image: torch.Tensor, native: Space, start: tuple[int, ...], end: tuple[int, ...], pixdim: float) -> Callable[[], Any]:
    """MONAI's ``Invertd`` taking a 3-channel prediction on the grid of ``SpatialCropd + Spacingd`` (forwarded
    once, outside the timing) back to ``native``: MONAI's own way to map a prediction back."""
    import copy

    from monai.data import MetaTensor
    from monai.transforms import Compose, Invertd, Spacingd, SpatialCropd

    forward = Compose([SpatialCropd("image", roi_start=start, roi_end=end), Spacingd("image", pixdim=(pixdim,) * 3, mode="bilinear")])
    data = forward({"image": MetaTensor(image[None], affine=torch.as_tensor(native.to_monai_affine()))})
    moved = data["image"]
    pred = MetaTensor(torch.rand((3, *moved.shape[1:]), generator=torch.Generator().manual_seed(1)),
                      meta=copy.deepcopy(dict(moved.meta)), applied_operations=copy.deepcopy(moved.applied_operations))
    invert = Invertd("pred", transform=forward, orig_keys="image", nearest_interp=False)
    return lambda: invert({"image": moved, "pred": pred})["pred"]


def precomputed_grid(source: Space, target: Space, nearest: bool = False) -> torch.Tensor:
    """``grid_sample``'s normalised grid (float32) for ``source -> target``, built once, outside the timing."""
    m = index_map(target, source)
    axes = [torch.arange(n, dtype=torch.float64) for n in target.shape]
    j = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)
    x = j @ torch.from_numpy(m[:3, :3]).T + torch.from_numpy(m[:3, 3])
    size = torch.tensor(source.shape, dtype=torch.float64)
    return ((2.0 * x + 1.0) / size - 1.0).flip(-1).float()[None]


def nnunet_style_labels(labels: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """Per class: one-hot -> trilinear ``F.interpolate`` -> keep where it beats the best so far."""
    best = torch.full(size, -1.0)
    out = torch.zeros(size, dtype=labels.dtype)
    for value in torch.unique(labels):
        prob = F.interpolate((labels == value).float()[None, None], size=size, mode="trilinear")[0, 0]
        wins = prob > best
        best = torch.where(wins, prob, best)
        out = torch.where(wins, value, out)
    return out


def voronoi_labels(shape: tuple[int, ...], classes: int, seed: int = 0) -> torch.Tensor:
    """A uint8 map of ``classes`` smooth regions (nearest of random seeds), like a multi-organ segmentation."""
    gen = torch.Generator().manual_seed(seed)
    coarse = tuple(max(4, n // 8) for n in shape)
    seeds = torch.rand(classes, len(shape), generator=gen) * torch.tensor(coarse, dtype=torch.float32)
    axes = [torch.arange(n, dtype=torch.float32) for n in coarse]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(shape))
    small = torch.cdist(grid, seeds).argmin(1).to(torch.uint8).reshape(coarse)
    # nearest-upsample the coarse regions with a random sub-voxel shift: boundaries stay smooth
    return F.interpolate(small[None, None].float(), size=shape, mode="nearest")[0, 0].to(torch.uint8)


def centred(space: Space, on: Space) -> Space:
    """``space`` moved so that its centre lies on ``on``'s centre (same shape and directions)."""
    affine, nd = space.affine.copy(), space.ndim
    affine[:nd, nd] += on.index_to_world([(k - 1) / 2 for k in on.shape]) - space.index_to_world([(k - 1) / 2 for k in space.shape])
    return Space.from_affine(affine, space.shape)


# ----------------------------------------------------------------------------- cases
def build_cases(quick: bool) -> dict[str, tuple[str, list[Entry]]]:
    q = 2 if quick else 1
    gen = torch.Generator().manual_seed(0)
    cases: dict[str, tuple[str, list[Entry]]] = {}

    native = Space((384 // q, 384 // q, 200 // q), spacing=(0.8 * q, 0.8 * q, 2.0 * q))
    start, end = (64 // q, 64 // q, 20 // q), (320 // q, 320 // q, 180 // q)
    working = native.crop(start, end).respace(1.5 * q)
    image = torch.rand(native.shape, generator=gen)
    ct = (image * 2000 - 1000).to(torch.int16)
    crop_view = image[tuple(slice(s, e) for s, e in zip(start, end))]
    entries: list[Entry] = [
        ("monai_spacetx", lambda: warp_image(image, native, working, "linear")),
        ("F.interpolate of the cropped view (floor)", lambda: F.interpolate(crop_view[None, None], size=working.shape, mode="trilinear")),
    ]
    run = sitk_resample(image.numpy(), native, working, "sitkLinear")
    if run:
        entries.append(("SimpleITK Resample", run))
    try:
        from monai.data import MetaTensor
        from monai.transforms import Compose, Spacing, SpatialCrop

        affine = torch.as_tensor(native.to_monai_affine())
        pipeline = Compose([SpatialCrop(roi_start=start, roi_end=end), Spacing(pixdim=(1.5 * q,) * 3, mode="bilinear")])
        meta_image = MetaTensor(image[None], affine=affine)
        entries.append(("MONAI SpatialCrop+Spacing", lambda: pipeline(meta_image)))
    except ImportError:
        pass
    cases["crop+respace"] = (f"{native.shape} -> crop -> {working.shape} linear", entries)

    entries = [
        ("monai_spacetx (int16 in, float32 out)", lambda: warp_image(ct, native, working, "linear")),
        ("monai_spacetx on float32", lambda: warp_image(image, native, working, "linear")),
    ]
    run = sitk_resample(ct.numpy(), native, working, "sitkLinear")
    if run:
        entries.append(("SimpleITK Resample (int16)", run))
    cases["crop+respace int16"] = (f"{native.shape} int16 -> {working.shape}", entries)

    prob = torch.rand((3, *working.shape), generator=gen)
    entries = [
        ("monai_spacetx", lambda: warp_image(prob, working, native, "linear")),
        ("allocate+fill (floor)", lambda: torch.full((3, *native.shape), 0.0)),
    ]
    run = sitk_resample(prob.numpy(), working, native, "sitkLinear")
    if run:
        entries.append(("SimpleITK Resample (vector)", run))
    entries.append(("MONAI Invertd (SpatialCropd+Spacingd undone, bilinear)", monai_invertd(image, native, start, end, 1.5 * q)))
    cases["map back"] = (f"3 x {working.shape} -> {native.shape} linear", entries)

    for case, (n, m) in (("oblique", (256 // q, 200 // q)), ("oblique 192", (192 // q, 150 // q))):
        cube = Space((n,) * 3)
        rotated = centred(Space((m,) * 3, spacing=(n / m,) * 3).rotate((np.radians(15), np.radians(15), 0.0)), cube)
        volume = torch.rand(cube.shape, generator=gen)
        entries = [
            ("monai_spacetx linear", lambda cube=cube, rotated=rotated, volume=volume: warp_image(volume, cube, rotated, "linear")),
            ("monai_spacetx nearest", lambda cube=cube, rotated=rotated, volume=volume: warp_image(volume, cube, rotated, "nearest")),
            ("monai_spacetx cubic", lambda cube=cube, rotated=rotated, volume=volume: warp_image(volume, cube, rotated, "cubic")),
        ]
        if case == "oblique":
            grid = precomputed_grid(cube, rotated)
            entries += [
                ("grid_sample bilinear, precomputed grid (floor)", lambda grid=grid, volume=volume: F.grid_sample(volume[None, None], grid, align_corners=False)),
                ("grid_sample nearest, precomputed grid", lambda grid=grid, volume=volume: F.grid_sample(volume[None, None], grid, mode="nearest", align_corners=False)),
            ]
            for mode in ("linear", "nearest", "cubic"):
                entries.append((f"monai_spacetx {mode}, torch path", lambda mode=mode, cube=cube, rotated=rotated, volume=volume: _torch_path(volume, cube, rotated, mode)))
        for name, method in (("linear", "sitkLinear"), ("nearest", "sitkNearestNeighbor"), ("B-spline", "sitkBSpline")):
            run = sitk_resample(volume.numpy(), cube, rotated, method)
            if run:
                entries.append((f"SimpleITK {name}", run))
        cases[case] = (f"{cube.shape} -> {rotated.shape} rotated 15 deg about two axes", entries)

    labels = voronoi_labels(working.shape, 117)
    entries = [
        ("monai_spacetx label", lambda: warp_image(labels, working, native, "label")),
        ("monai_spacetx nearest", lambda: warp_image(labels, working, native, "nearest")),
        ("nnU-Net-style one-hot -> interpolate -> argmax", lambda: nnunet_style_labels(labels, native.crop(start, end).shape)),
    ]
    run = sitk_resample(labels.numpy(), working, native, "sitkLabelLinear")
    if run:
        entries.append(("SimpleITK sitkLabelLinear", run))
    classes = int(torch.unique(labels).numel())
    cases["label K=117"] = (f"{classes} classes, {working.shape} -> {native.shape}; nnU-Net-style onto the crop only", entries)

    # the same label map back onto an oblique scan (the native grid tilted 10 degrees): the general path
    tilted = centred(native.rotate((0.0, 0.0, np.radians(10))), working)
    entries = [
        ("monai_spacetx label", lambda: warp_image(labels, working, tilted, "label")),
        ("monai_spacetx nearest", lambda: warp_image(labels, working, tilted, "nearest")),
    ]
    run = sitk_resample(labels.numpy(), working, tilted, "sitkLabelLinear")
    if run:
        entries.append(("SimpleITK sitkLabelLinear", run))
    cases["label K=117 oblique"] = (f"{classes} classes, {working.shape} -> {tilted.shape} tilted 10 deg", entries)

    # label mode on axis-aligned grids (item of issue 29: within 3x of nearest): a 1.5 mm working grid
    # up to 0.7 mm and down to 2.5 mm, 2 and 117 classes, Voronoi and blocky regions
    grid = Space((160 // q, 160 // q, 100 // q), spacing=(1.5 * q,) * 3)
    coarse = torch.randint(0, 117, tuple(max(2, n // 12) for n in grid.shape), generator=gen, dtype=torch.uint8)
    maps = {
        "Voronoi 2": voronoi_labels(grid.shape, 2),
        "Voronoi 117": voronoi_labels(grid.shape, 117),
        "blocky 117": F.interpolate(coarse[None, None].float(), size=grid.shape, mode="nearest")[0, 0].to(torch.uint8),
    }
    for direction, spacing in (("up", 0.7), ("down", 2.5)):
        finer = grid.respace(spacing * q)
        entries = []
        for name, labels_map in maps.items():
            entries += [
                (f"{name}: monai_spacetx label", lambda m=labels_map, t=finer: warp_image(m, grid, t, "label")),
                (f"{name}: monai_spacetx nearest", lambda m=labels_map, t=finer: warp_image(m, grid, t, "nearest")),
            ]
        cases[f"label axis-aligned {direction}"] = (f"{grid.shape} at 1.5 mm -> {finer.shape} at {spacing} mm, label vs nearest", entries)

    grid_up = Space((200 // q, 180 // q, 120 // q))
    finer = grid_up.respace(0.5)
    two = torch.rand((2, *grid_up.shape), generator=gen)
    mask = (two[0] * 5).to(torch.uint8)
    cases["upsample x2"] = (
        f"{grid_up.shape} -> {finer.shape}",
        [
            ("monai_spacetx nearest, 2 x float32", lambda: warp_image(two, grid_up, finer, "nearest")),
            ("monai_spacetx linear, 2 x float32", lambda: warp_image(two, grid_up, finer, "linear")),
            ("monai_spacetx nearest, uint8 labels", lambda: warp_image(mask, grid_up, finer, "nearest")),
            ("F.interpolate nearest-exact, 2 x float32", lambda: F.interpolate(two[None], size=finer.shape, mode="nearest-exact")),
            ("F.interpolate trilinear, 2 x float32", lambda: F.interpolate(two[None], size=finer.shape, mode="trilinear")),
        ],
    )

    big = Space((256 // q,) * 3)
    # 97 has no small period (scale 256/97); 96 is the nearest small fraction (3/8), 128 is 1/2
    odd, near, half = (big.resize((m // q,) * 3) for m in (97, 96, 128))
    source = torch.rand(big.shape, generator=gen)
    cases["resize any shape"] = (
        f"{big.shape} -> {odd.shape} vs {near.shape} and {half.shape}: compare ns / output voxel",
        [(f"monai_spacetx -> {space.shape}", lambda space=space: warp_image(source, big, space, "linear")) for space in (odd, near, half)],
    )
    return cases


# ----------------------------------------------------------------------------- geometry sweep
#: (ours, SimpleITK's interpolator) per mode of the sweep; cubic is compared with SimpleITK's B-spline.
SWEEP_MODES = (("linear", "sitkLinear"), ("nearest", "sitkNearestNeighbor"), ("cubic", "sitkBSpline"))


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues: the rotation by ``angle`` (radians) about the unit vector ``axis``."""
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def sweep_geometries(count: int, seed: int, quick: bool) -> list[tuple[str, Space, Space]]:
    """``count`` seeded random 3-D geometries and ``max(2, count // 2)`` 2-D ones: ``(description, source, target)``.

    3-D: a 160x160x128 scan (``--quick``: 80x80x64) with spacing drawn per axis from 0.6-1.6 mm, and
    a target over the same field of view, rotated 5-40 deg about a random axis through the centre,
    its spacing the source's times a factor drawn from 0.6-1.6 (up- or down-sampling), either per
    axis (anisotropy kept) or the geometric mean (isotropic), drawn by a coin. 2-D: a 512x512 slice
    (``--quick``: 256x256), the same draws, rotated in plane.
    """
    rng = np.random.default_rng(seed)
    q = 2 if quick else 1
    out: list[tuple[str, Space, Space]] = []
    for k in range(count + max(2, count // 2)):
        three = k < count
        shape = (160 // q, 160 // q, 128 // q) if three else (512 // q, 512 // q)
        nd = len(shape)
        spacing = rng.uniform(0.6, 1.6, nd) * q
        angle = float(rng.uniform(5.0, 40.0))
        factor = float(rng.uniform(0.6, 1.6))
        isotropic = bool(rng.random() < 0.5)
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        rotation = _rotation(axis, np.radians(angle)) if three else _rotation(np.array([0.0, 0.0, 1.0]), np.radians(angle))[:2, :2]
        source = Space(shape, spacing=tuple(float(v) for v in spacing))
        target_spacing = factor * (np.full(nd, float(np.exp(np.log(spacing).mean()))) if isotropic else spacing)
        target_shape = tuple(max(1, int(round(n * a / b))) for n, a, b in zip(shape, spacing, target_spacing))
        affine = np.eye(nd + 1)
        affine[:nd, :nd] = rotation @ np.diag(target_spacing)
        target = centred(Space.from_affine(affine, target_shape), source)
        where = f"axis ({axis[0]:+.2f}, {axis[1]:+.2f}, {axis[2]:+.2f})" if three else "in plane"
        what = (f"{k}: {nd}-D {shape} @ {'x'.join(f'{v:.2f}' for v in spacing)} mm -> {target_shape}, "
                f"{angle:.0f} deg {where}, x{factor:.2f} {'isotropic' if isotropic else 'per axis'}")
        out.append((what, source, target))
    return out


def time_round_robin_cpu(fns: list[Callable[[], Any]], repeat: int, pair: bool = False) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU-time medians per callable, the callables interleaved in each round.
    At one thread the CPU time is the call's own work: on a loaded machine it is far steadier than
    the wall clock, which also counts the time other processes hold the core. Every other round runs the
    calls in reverse order: a call's caches are warmed or cooled by the call before it, so each call follows a
    different one half of the time (an even ``repeat`` balances it). In one fixed order the sweep's label map
    was read by ``ours label`` right after SimpleITK's cubic and right before ``ours nearest``: the 2-D
    label / nearest worst came out at 3.67 (quiet machine), against 3.12 alternating (with another job running)
    and 2.1-2.5 for the two timed as a pair alone.

    ``pair``: the last two callables read the same input (the sweep's label and nearest on one label map), and
    their order within the pair flips every two rounds. Reversing alone left ``ours nearest`` always after
    ``ours label`` or itself (the map in cache) and ``ours label`` after SimpleITK's cubic in every forward
    round; so each of the two follows the cubic once in four rounds (a ``repeat`` that is a multiple of 4
    balances it) and the other one of the pair otherwise."""
    wall: list[list[float]] = [[] for _ in fns]
    cpu: list[list[float]] = [[] for _ in fns]
    for round_ in range(repeat):
        order = list(zip(fns, wall, cpu))
        if pair and (round_ // 2) % 2 == 1:
            order[-2], order[-1] = order[-1], order[-2]
        for fn, w, c in order if round_ % 2 == 0 else order[::-1]:
            start, start_cpu = time.perf_counter(), time.process_time()
            result = fn()
            c.append(time.process_time() - start_cpu)
            w.append(time.perf_counter() - start)
            del result
    return [statistics.median(t) for t in wall], [statistics.median(t) for t in cpu]


def run_sweep(args: argparse.Namespace) -> None:
    """Every sweep geometry at every thread count: ours against SimpleITK per mode (and our label
    mode against our nearest, on a label map), one round-robin timing per geometry and thread
    count; then the worst and the median ratio per mode and thread count. At one thread each ratio
    also from CPU time (``clock`` "cpu"; see :func:`time_round_robin_cpu`)."""
    geometries = sweep_geometries(args.sweep, args.sweep_seed, args.quick)
    modes = [(mode, method) for mode, method in SWEEP_MODES if mode in args.modes]
    with_label = "label" in args.modes
    gen = torch.Generator().manual_seed(args.sweep_seed)
    ratios: dict[tuple[str, int, str], list[float]] = {}
    rows: list[list[str]] = []
    print(f"\n### geometry sweep: {len(geometries)} geometries (seed {args.sweep_seed}), ratio = ours / SimpleITK (label: ours label / ours nearest)\n")
    for what, source, target in geometries:
        print(f"- {what}")
    for index, (what, source, target) in enumerate(geometries):
        image = torch.rand(source.shape, generator=gen)
        labels = voronoi_labels(source.shape, 16, seed=index)
        entries: list[tuple[str, Callable[[], Any]]] = []
        for mode, method in modes:
            run = sitk_resample(image.numpy(), source, target, method)
            if run is None:
                raise SystemExit("the sweep needs SimpleITK")
            entries.append((f"ours {mode}", lambda mode=mode: warp_image(image, source, target, mode)))
            entries.append((f"sitk {mode}", run))
        if with_label:
            entries.append(("ours label", lambda: warp_image(labels, source, target, "label")))
            entries.append(("ours nearest (labels)", lambda: warp_image(labels, source, target, "nearest")))
        for threads in args.threads:
            set_threads(threads)
            for _, fn in entries:  # warm-up
                fn()
            load = load_average().split(" / ")[0]
            wall, cpu = time_round_robin_cpu([fn for _, fn in entries], args.repeat, pair=with_label)
            names = [name for name, _ in entries]
            timings = [("wall", dict(zip(names, wall)))] + ([("cpu", dict(zip(names, cpu)))] if threads == 1 else [])
            for clock, medians in timings:
                cells = [str(index), str(threads), clock, load]
                for mode, _ in modes:
                    ratio = medians[f"ours {mode}"] / medians[f"sitk {mode}"]
                    ratios.setdefault((mode, threads, clock), []).append(ratio)
                    cells.append(f"{medians[f'ours {mode}'] * 1e3:.1f} / {medians[f'sitk {mode}'] * 1e3:.1f} = {ratio:.2f}")
                if with_label:
                    ratio = medians["ours label"] / medians["ours nearest (labels)"]
                    ratios.setdefault(("label/nearest", threads, clock), []).append(ratio)
                    cells.append(f"{medians['ours label'] * 1e3:.1f} / {medians['ours nearest (labels)'] * 1e3:.1f} = {ratio:.2f}")
                rows.append(cells)
                print(" | ".join(cells), flush=True)
    print()
    print(md_table(["geometry", "threads", "clock", "load", *(f"{mode} ms (ours / sitk = ratio)" for mode, _ in modes)]
                   + (["label / our nearest"] if with_label else []), rows))
    print()
    dims = [source.ndim for _, source, _ in geometries]  # the ratios are appended in geometry order

    def worst_median(values: list[float], nd: int) -> str:
        part = [v for v, d in zip(values, dims) if d == nd]
        return f"{max(part):.2f} / {statistics.median(part):.2f}" if part else "-"

    summary = [[mode, str(threads), clock, f"{max(values):.2f}", f"{statistics.median(values):.2f}", f"{min(values):.2f}",
                str(int(np.argmax(values))), worst_median(values, 3), worst_median(values, 2)]
               for (mode, threads, clock), values in sorted(ratios.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0]))]
    print(md_table(["mode", "threads", "clock", "worst ratio", "median ratio", "best ratio", "worst geometry",
                    "3-D worst / median", "2-D worst / median"], summary))
    print(f"\n- load average at the end: {load_average()}")


def _torch_path(image: torch.Tensor, source: Space, target: Space, mode: str) -> torch.Tensor:
    """``warp_image`` with the compiled kernels switched off (the path CUDA tensors take)."""
    with compiled.disabled():
        return warp_image(image, source, target, mode)


def compile_lines(cold: bool = True) -> list[str]:
    """The compiled kernels' first-call cost: from scratch (a subprocess, empty cache) and in this process."""
    import os
    import subprocess
    import sys
    import tempfile

    if not compiled.available():
        return ["- compiled kernels: not available (numba missing or MONAI_SPACETX_KERNELS=0): torch path"]
    here = compiled.warm_up()
    line = f"- compiled kernels, first call in this process: {here:.2f} s (from numba's on-disk cache when it is warm)"
    if not cold:
        return [line]
    with tempfile.TemporaryDirectory() as empty:
        code = "from monai_spacetx.engine import compiled; print(compiled.warm_up())"
        env = {**os.environ, "NUMBA_CACHE_DIR": empty}
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)
        seconds = result.stdout.strip().splitlines()[-1] if result.returncode == 0 else "failed"
    return [
        line,
        f"- compiled kernels, first call compiling from scratch: {float(seconds):.1f} s (empty cache, every kernel's serial and parallel build)"
        if seconds != "failed" else "- compiled kernels: compiling from scratch failed",
    ]


def _spin(stop: Any) -> None:
    """Keep one core busy until ``stop`` is set (a stand-in for another process's work)."""
    while not stop.is_set():
        sum(range(10_000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="every grid about 2x coarser per axis")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cases", nargs="+", default=None, help="run only these cases (names as printed)")
    parser.add_argument("--busy", type=int, default=0, help="processes keeping a core busy each during the run")
    parser.add_argument("--no-cold", action="store_true", help="skip timing the kernels' compile from scratch (about a minute)")
    parser.add_argument("--sweep", type=int, default=0, metavar="N",
                        help="run the geometry sweep instead of the cases: N random 3-D geometries and max(2, N // 2) 2-D ones")
    parser.add_argument("--sweep-seed", type=int, default=0, help="the sweep's seed")
    parser.add_argument("--modes", nargs="+", default=["linear", "nearest", "cubic", "label"], choices=["linear", "nearest", "cubic", "label"],
                        help="the sweep's modes (label: our label against our nearest); the others' calls are not run, so the caches "
                             "between two calls of a mode see fewer other calls than in the full sweep")
    args = parser.parse_args()
    import multiprocessing

    stop = multiprocessing.Event()
    spinners = [multiprocessing.Process(target=_spin, args=(stop,), daemon=True) for _ in range(args.busy)]
    for spinner in spinners:
        spinner.start()
    try:
        run(args)
    finally:
        stop.set()
        for spinner in spinners:
            spinner.join()


def run(args: argparse.Namespace) -> None:
    """Every selected case at every thread count, one markdown table per case."""
    print("\n".join(machine_lines()))
    print("\n".join(compile_lines(cold=not args.no_cold)))
    if args.busy:
        print(f"- {args.busy} other process(es) keep a core busy each during the run")
    if args.sweep:
        run_sweep(args)
        return
    cases = build_cases(args.quick)
    for name, (what, entries) in cases.items():
        if args.cases and name not in args.cases:
            continue
        print(f"\n### {name}: {what}\n")
        rows: list[list[str]] = []
        repeat = min(args.repeat, 3) if name.startswith("label K=117") else args.repeat  # the per-class peers take seconds
        for threads in args.threads:
            set_threads(threads)
            voxels = [_voxels(fn()) for _, fn in entries]  # warm-up: lazy imports, allocator, thread pools
            memory = [peak_mib(fn) for _, fn in entries]
            load = load_average().split(" / ")[0]
            medians, cpus = time_round_robin_cpu([fn for _, fn in entries], repeat)
            for (label, _), seconds, cpu, count, mib in zip(entries, medians, cpus, voxels, memory):
                rows.append([
                    str(threads), load, label, f"{seconds * 1e3:.1f}", f"{seconds / medians[0]:.2f}", f"{cpu * 1e3:.1f}",
                    f"{seconds * 1e9 / count:.1f}", "n/a" if mib is None else f"{mib:.0f}",
                ])
        print(md_table(["threads", "load", "entry", "median ms", "ratio to first", "CPU ms (all threads)", "ns / output voxel", "peak MiB"], rows))


def _voxels(result: Any) -> int:
    """Output voxels of a result (tensor, MetaTensor, SimpleITK image)."""
    if hasattr(result, "GetNumberOfPixels"):
        return int(result.GetNumberOfPixels()) * int(result.GetNumberOfComponentsPerPixel())
    return int(result.numel())


if __name__ == "__main__":
    main()
