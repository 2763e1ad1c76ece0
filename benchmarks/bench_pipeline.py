"""A MONAI-style pipeline, eager vs lazy, ours vs MONAI alone: time, peak memory, interpolations, label accuracy.

The case is ``_common``'s oblique, anisotropic CT-like volume (int16 image, 4-class uint8 label),
192 x 192 x 100 voxels of 1.04 x 1.04 x 3 mm (``--quick``: 64 x 64 x 30, same field of view),
written to NIfTI and read back with ``LoadImaged``. The label travels with the image (it plays
the perfect model) and is mapped back to the native grid, where it is compared with the original.

Pipelines (keys ``image``, bilinear, and ``label``, nearest; spacings relative to the native one):

- **inference**: ``Orientationd("RAS") -> Spacingd -> crop (central 80 %) -> resample``, mapped
  back; twice: a *finer* working grid (every step finer than the one before, so nearest there and
  back loses nothing inside the working grid) and a *coarser* one;
- **training**: ``Orientationd -> Spacingd(isotropic) -> RandAffined(rotate + scale, fixed seed)
  -> crop -> resample``, mapped back (every step is invertible).

Rows:

1. ``ours eager``: MONAI's ``Orientationd``/``Spacingd``/``RandAffined``, then ``SpaceCropd`` and
   ``SpaceResampled``; back with ``SpaceInvertd(mode="nearest")``;
2. ``ours lazy``: the same under ``Compose(lazy=True)``; back with ``SpaceInvertd``;
3. ``ours lazy, MONAI crop``: as 2 with MONAI's ``SpatialCropd`` instead of ``SpaceCropd``;
4. ``MONAI eager``: ``SpatialCropd`` and ``Spacingd`` for the crop and the resample; back with
   ``Invertd(nearest_interp=True)``;
5. ``MONAI lazy``: 4 under ``Compose(lazy=True)``; back with ``Invertd``.

Columns. **interp. fwd / key** and **interp. back**: interpolation passes executed, per key, as
``ours + MONAI`` (forward: image and label averaged; back: the label). Ours: calls of the
engine's dispatcher whose plan interpolates (an identity or integer-shift plan copies voxels and
is not counted), plus exact nearest map-backs through the recorded chain (one gather each).
MONAI: calls of torch's ``grid_sample``/``interpolate`` made outside our engine; every MONAI
resampler (``Spacing``, ``Affine``/``Resample``, ``apply_pending``'s ``resample``, ``Resize``)
ends in one of them, crops, pads, flips and reorientations do not. In row 2 the lazy
``SpaceCropd`` executes MONAI's pending operations (one pass), then ``SpaceResampled`` resamples
again from the loaded data (the crop's pass is discarded): 2 passes, 1 interpolation deep.
**label = 1 warp**: the forward label equals, voxel for voxel, one nearest warp of the loaded label
onto the final grid (our engine): the output went through exactly one interpolation.
**label values**: distinct values of the forward label (4 classes). **wrong (inside)** / **Dice**:
native label voxels that differ after mapping back, and the mean Dice of classes 1-3, among the
voxels whose centre lies inside the working grid (cropped-away voxels cannot come back).
**peak MiB**: resident-set high-water mark during one forward + back above the resident size
before it (``bench_resample.peak_mib``). **ms fwd + back**: medians of ``--repeats`` runs, the
rows interleaved, each on a fresh copy of the loaded sample; **x ours lazy**: the row's time over
row 2's at the same thread count (forward + back). The engine runs a call only on the CPUs no
other task is running on (``monai_spacetx.engine.threads``), MONAI on torch's thread count: on a
busy machine compare ratios, not times; the load average is printed with each table.

Run: ``python benchmarks/bench_pipeline.py [--quick] [--repeats N] [--threads 1 2] [--markdown PATH]``
(about 2-3 minutes on 2 busy cores; ``--quick``: seconds).
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

import _common as C  # the shared harness beside this script

torch = C.setup_torch()

from bench_resample import peak_mib  # noqa: E402  (the resident-set high-water mark of one call)
from monai.transforms import Compose, Invertd, Orientationd, RandAffined, Spacingd, SpatialCropd  # noqa: E402

import monai_spacetx.engine.warp as engine_warp  # noqa: E402
import monai_spacetx.transforms.functional as spacetx_functional  # noqa: E402
from monai_spacetx import Space, SpaceCropd, SpaceInvertd, SpaceResampled, warp_image  # noqa: E402
from monai_spacetx.compare import score_labels, to_numpy, working_grid_mask  # noqa: E402

Sample = dict[str, Any]  # a loaded (or transformed) data dictionary
MapBack = Callable[[Any], Any]  # SpaceInvertd / Invertd: a sample in, the sample with its label on the native grid out
KEYS = ["image", "label"]
MODES = ("bilinear", "nearest")
SEED = 11
SHAPE = (192, 192, 100)  # the full case: a CT-like grid of 1.04 x 1.04 x 3 mm over _common's field of view
CROP_FRACTION = 0.8  # the crop keeps the central 80 % of each axis of the respaced grid
ROWS = ("ours eager", "ours lazy", "ours lazy, MONAI crop", "MONAI eager", "MONAI lazy")
RAND_AFFINE: dict[str, Any] = dict(prob=1.0, rotate_range=(0.25, 0.25, 0.25), scale_range=0.1, padding_mode="zeros")


# ----------------------------------------------------------------------------- counting interpolations
@contextmanager
def counting() -> Iterator[dict[str, int]]:
    """Interpolation passes while the block runs: ``{"ours": n, "monai": m}`` (see the module docstring)."""
    counts = {"ours": 0, "monai": 0}
    depth = [0]  # > 0 inside our engine: its own torch calls are ours, already counted once
    dispatch, map_back = engine_warp._dispatch, spacetx_functional.map_back_nearest
    torch_fns = {name: getattr(torch.nn.functional, name) for name in ("grid_sample", "interpolate")}

    def ours_dispatch(img: Any, plan: Any, options: Any, *rest: Any) -> Any:
        if depth[0] == 0 and plan.kind not in ("identity", "index"):
            counts["ours"] += 1
        depth[0] += 1
        try:
            return dispatch(img, plan, options, *rest)
        finally:
            depth[0] -= 1

    def ours_map_back(*args: Any, **kwargs: Any) -> Any:
        depth[0] += 1
        try:
            out = map_back(*args, **kwargs)
        finally:
            depth[0] -= 1
        counts["ours"] += out is not None  # None: the caller falls back to one engine warp (counted there)
        return out

    def theirs(fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            counts["monai"] += depth[0] == 0
            return fn(*args, **kwargs)

        return call

    engine_warp._dispatch = ours_dispatch
    spacetx_functional.map_back_nearest = ours_map_back
    for name, fn in torch_fns.items():
        setattr(torch.nn.functional, name, theirs(fn))
    try:
        yield counts
    finally:
        engine_warp._dispatch = dispatch
        spacetx_functional.map_back_nearest = map_back
        for name, fn in torch_fns.items():
            setattr(torch.nn.functional, name, fn)


# ----------------------------------------------------------------------------- the pipelines
@dataclass(frozen=True)
class Scenario:
    """One pipeline: the respacing, the working spacing, and whether RandAffined augments in between."""

    name: str
    spacing: tuple[float, ...]  # Spacingd's pixdim
    working: tuple[float, ...]  # the last resample's pixdim
    augment: bool


def scenarios(native_spacing: Sequence[float]) -> list[Scenario]:
    """The three pipelines, their spacings relative to the native one (so ``--quick`` keeps the ratios)."""
    native = np.asarray(native_spacing, dtype=np.float64)

    def mm(factors: Sequence[float]) -> tuple[float, ...]:
        return tuple(float(v) for v in np.round(np.asarray(factors) * native, 4))

    iso = float(np.round(1.5 * native.min(), 4))  # RandAffined rotates in voxel space: an isotropic grid stays a Space
    return [
        Scenario("inference, finer grid", mm([0.9, 0.9, 0.8]), mm([0.75, 0.75, 0.6]), augment=False),
        Scenario("inference, coarser grid", mm([1.3, 1.3, 1.2]), mm([1.9, 1.9, 1.6]), augment=False),
        Scenario("training, RandAffined", (iso,) * 3, (round(0.8 * iso, 4),) * 3, augment=True),
    ]


def crop_box(loaded: Sample, sc: Scenario) -> tuple[list[int], list[int]]:
    """The central box of the respaced grid (its shape read from MONAI's pending operations)."""
    pending = Compose([Orientationd(KEYS, axcodes="RAS", labels=None), Spacingd(KEYS, pixdim=sc.spacing)], lazy=True)
    shape = np.asarray(pending(C.fresh(loaded))["image"].peek_pending_shape())
    start = np.round(shape * (1 - CROP_FRACTION) / 2).astype(int)
    return start.tolist(), (start + np.round(shape * CROP_FRACTION).astype(int)).tolist()


def build(row: str, sc: Scenario, box: tuple[list[int], list[int]]) -> tuple[Compose, MapBack]:
    """The forward ``Compose`` of a row and its map-back (returns the label on the native grid)."""
    ours = row.startswith("ours")
    steps: list[Any] = [Orientationd(KEYS, axcodes="RAS", labels=None), Spacingd(KEYS, pixdim=sc.spacing, mode=MODES)]
    if sc.augment:
        steps.append(RandAffined(KEYS, mode=MODES, **RAND_AFFINE))
    if row.endswith("MONAI crop") or not ours:
        steps.append(SpatialCropd(KEYS, roi_start=box[0], roi_end=box[1]))
    else:
        steps.append(SpaceCropd(KEYS, roi_start=box[0], roi_end=box[1]))
    steps.append(SpaceResampled(KEYS, pixdim=sc.working, mode=MODES) if ours else Spacingd(KEYS, pixdim=sc.working, mode=MODES))
    forward = Compose(steps, lazy="lazy" in row)
    if ours:
        back: MapBack = SpaceInvertd("label", mode="nearest")
    else:
        back = Invertd("label", transform=forward, orig_keys="label", nearest_interp=True)
    return forward, back


@dataclass
class Outcome:
    """What one run of a row gives, besides its time."""

    forward: dict[str, int]
    one_warp: bool
    back: dict[str, int]
    label_values: int
    label_dtype: str
    wrong: int
    dice: float


def run_once(forward: Compose, back: MapBack, data: Sample) -> tuple[float, float]:
    """Forward on ``data``, then the label back; returns the seconds of each."""
    forward.set_random_state(SEED)  # every row and repeat draws the same augmentation
    start = time.perf_counter()
    out = C.computed(forward(data))  # a lazy Space step's output is computed when read: read it here
    middle = time.perf_counter()
    back(dict(out))
    return middle - start, time.perf_counter() - middle


def measure(row: str, sc: Scenario, box: tuple[list[int], list[int]], loaded: Sample) -> Outcome:
    """One counted run: interpolations, the forward label's values, the mapped-back label's errors."""
    forward, back = build(row, sc, box)
    forward.set_random_state(SEED)
    with counting() as fwd_counts:
        out = C.computed(forward(C.fresh(loaded)))
    working = Space.from_metatensor(out["label"])  # read before Invertd (MONAI's inverse pops the records in place)
    values = torch.unique(out["label"].as_tensor())
    native = Space.from_metatensor(loaded["label"])
    # how many interpolations deep the label is: is it exactly one nearest warp of the loaded label?
    one_warp = warp_image(loaded["label"].as_tensor(), native, working, mode="nearest")
    one_warp_equal = C.wrong(one_warp, out["label"]) == 0
    with counting() as back_counts:
        label_back = back(dict(out))["label"]
    inside = working_grid_mask(native, working)
    score = score_labels(to_numpy(label_back)[0], to_numpy(loaded["label"])[0], inside, classes=C.CLASSES)
    dtype = str(out["label"].dtype).replace("torch.", "")
    return Outcome(fwd_counts, one_warp_equal, back_counts, int(values.numel()), dtype, score.wrong_inside, score.dice_inside)


def per_key(counts: dict[str, int], keys: int) -> str:
    """``"ours + MONAI"`` passes per key."""
    return f"{counts['ours'] / keys:g} + {counts['monai'] / keys:g}"


def bound(run: tuple[Compose, MapBack], data: Sample) -> Callable[[], Any]:
    """``run`` on ``data`` as a callable without arguments (for ``peak_mib``)."""
    return lambda: run_once(*run, data)


def time_rows(runs: dict[str, tuple[Compose, MapBack]], loaded: Sample, repeats: int) -> dict[str, tuple[float, float]]:
    """Median seconds of forward and of back per row, the rows interleaved in each round (load hits all alike).

    Each run gets a fresh copy of the sample, made outside the timed calls.
    """
    seconds: dict[str, list[tuple[float, float]]] = {row: [] for row in runs}
    for _ in range(repeats):
        for row, run in runs.items():
            data = C.fresh(loaded)
            seconds[row].append(run_once(*run, data))
            del data
    return {row: (C.median([f for f, _ in pairs]), C.median([b for _, b in pairs])) for row, pairs in seconds.items()}


# ----------------------------------------------------------------------------- main
def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"small volume {C.QUICK_SHAPE} instead of {SHAPE} (same field of view)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per row and thread count (default 3, quick 2)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts (default: 1 2)")
    parser.add_argument("--markdown", metavar="PATH", default=None, help="also write the report to this markdown file")
    return parser.parse_args(argv)


@dataclass
class RowResult:
    """A row of one pipeline: its counted run, its peak memory (MiB, None off Linux), and per thread count
    the median seconds of forward and of back."""

    outcome: Outcome
    peak_mib: Optional[float]
    seconds: dict[int, tuple[float, float]]

    def total(self, threads: int) -> float:
        return sum(self.seconds[threads])


def run_scenario(sc: Scenario, loaded: Sample, threads: Sequence[int], repeats: int) -> tuple[dict[str, RowResult], list[str]]:
    """Every row of one pipeline; also the load average seen at each thread count."""
    box = crop_box(loaded, sc)
    outcomes = {row: measure(row, sc, box, loaded) for row in ROWS}  # also the warm-up
    runs = {row: build(row, sc, box) for row in ROWS}
    memory = {row: peak_mib(bound(runs[row], C.fresh(loaded))) for row in ROWS}
    times: dict[int, dict[str, tuple[float, float]]] = {}
    loads = []
    for count in threads:
        torch.set_num_threads(count)
        loads.append(f"{count} thread(s): {C.load_average()}")
        times[count] = time_rows(runs, loaded, repeats)
    torch.set_num_threads(C.THREADS)
    return {row: RowResult(outcomes[row], memory[row], {t: times[t][row] for t in threads}) for row in ROWS}, loads


def table(results: dict[str, RowResult], threads: Sequence[int]) -> str:
    headers = ["row", "interp. fwd / key", "label = 1 warp", "interp. back", "label values", "label dtype",
               "wrong (inside)", "Dice", "peak MiB"]
    for count in threads:
        headers += [f"ms fwd + back, {count} thr", f"x ours lazy, {count} thr"]
    rows = []
    for row, r in results.items():
        o = r.outcome
        cells: list[Any] = [row, per_key(o.forward, len(KEYS)), "yes" if o.one_warp else "no", per_key(o.back, 1),
                            o.label_values, o.label_dtype, o.wrong, f"{o.dice:.4f}", "n/a" if r.peak_mib is None else f"{r.peak_mib:.0f}"]
        for count in threads:
            forward, back = r.seconds[count]
            cells += [f"{forward * 1e3:.0f} + {back * 1e3:.0f}", f"{r.total(count) / results['ours lazy'].total(count):.2f}"]
        rows.append(cells)
    return C.md_table(headers, rows)


def main(argv: Optional[Sequence[str]] = None) -> dict[str, dict[str, RowResult]]:
    """Run every pipeline and row and print the report; returns, per pipeline name, each row's result."""
    args = parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 3)
    report = C.Report()
    case = C.write_case(args.quick, shape=None if args.quick else SHAPE)
    loaded = C.load(case)
    loaded["label"] = loaded["label"].to(torch.uint8)  # a label map as a label map (LoadImaged gives float32)
    report.add(f"## Pipelines, eager vs lazy, ours vs MONAI ({'quick' if args.quick else 'full'} case)\n")
    report.add("\n".join(C.machine_lines()))
    spacing = tuple(round(s, 3) for s in case["spacing"])
    report.add(f"- case: {case['shape']} voxels of {spacing} mm, oblique; medians of {repeats} runs")
    report.add(f"- command: python benchmarks/bench_pipeline.py {' '.join(sys.argv[1:] if argv is None else argv)}".rstrip())
    results = {}
    for sc in scenarios(case["spacing"]):
        results[sc.name], loads = run_scenario(sc, loaded, args.threads, repeats)
        augment = " -> RandAffined" if sc.augment else ""
        report.add(f"\n### {sc.name}: Spacingd {sc.spacing} mm{augment} -> crop {CROP_FRACTION:.0%} -> resample {sc.working} mm -> back\n")
        report.add(f"load average: {'; '.join(loads)}\n")
        report.add(table(results[sc.name], args.threads))
    report.write(args.markdown)
    return results


if __name__ == "__main__":
    main()
