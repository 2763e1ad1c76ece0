"""``monai-spacetx check``: round-trip accuracy of crop -> resample -> map back on your own scan."""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

# ``--max-voxels``'s default lives with the one guard it feeds (engine/limits.py)
from ..engine.limits import DEFAULT_MAX_VOXELS
from .text import CliError, Progress

NAME = "check"
HELP = "round-trip accuracy on your own scan: monai-spacetx next to MONAI's transforms + Invertd"
DESCRIPTION = """\
Crop and resample a label map (yours, or 'image > threshold') into a working grid, treat it as
a perfect model's output and map it back to the scan, twice: with monai-spacetx
(SpaceCropd + SpaceResampled + SpaceInvertd, one resample back) and with MONAI
(SpatialCropd/CropForegroundd + Spacingd/Resized + Invertd). Reports the native voxels whose
label changed, inside the working grid's field of view (what a model can get right) and
outside it (what a crop throws away), Dice, and the landmark error in mm.

Reads anything MONAI's LoadImage reads: NIfTI, NRRD, a DICOM series (a folder; needs pydicom),
PNG/JPG (2-D; a colour image is converted to luminance). Crop and working grid are planned
first, without touching pixels: one over --max-voxels is refused before any work.
--spacing keeps the corner voxel centres (MONAI Spacingd); --size keeps the field-of-view
edges (MONAI Resized). Landmarks are world mm in the scan's affine frame (RAS for NIfTI);
add --lps for points from ITK, 3D Slicer or DICOM."""

EXAMPLES = (
    "scan.nii.gz --size 96 96 64",
    "scan.nii.gz --label seg.nii.gz --crop-foreground 100 --margin 4 --spacing 0.7",
    "scan.nii.gz --roi 20 20 10 180 180 90 --spacing 1.5 --landmarks points.csv --lps",
    "fmri.nii.gz --volume 0 --spacing 1.5 --figure worst_slice.png",
    "slice.png --spacing 0.5",
    "--example anatomical.nii --roi 4 4 4 28 36 20 --spacing 1.5",
)


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``check`` arguments to ``parser``."""
    source = parser.add_argument_group("input")
    source.add_argument("image", type=Path, nargs="?", help="the scan: NIfTI, NRRD, a DICOM series folder, PNG, ... (anything MONAI's LoadImage reads)")
    source.add_argument("--example", metavar="NAME", help="use a scan shipped with nibabel instead: anatomical.nii (MR) or example4d.nii.gz (EPI, 2 volumes)")
    source.add_argument("--volume", type=int, metavar="N", help="for a 4-D scan (e.g. fMRI, DWI): the volume to use, counting from 0")
    source.add_argument("--label", type=Path, help="label map on the scan's grid, values 0..255 (default: image > threshold)")
    source.add_argument("--landmarks", type=Path, help="landmarks, .csv (one point a row) or .json, in world mm")
    source.add_argument("--lps", action="store_true", help="the landmarks are LPS (ITK, 3D Slicer, DICOM) rather than RAS")
    crop = parser.add_argument_group("crop (optional, one of)").add_mutually_exclusive_group()
    crop.add_argument("--crop-foreground", type=float, metavar="T", help="crop to the bounding box of image > T, grown by --margin")
    crop.add_argument("--roi", type=int, nargs="+", metavar="I", help="crop to a voxel box: start indices then end indices (end exclusive)")
    parser.add_argument("--margin", type=int, default=0, metavar="M", help="voxels added around the foreground box (default 0)")
    grid_group = parser.add_argument_group("working grid (--spacing or --size)")
    grid = grid_group.add_mutually_exclusive_group()
    grid.add_argument("--spacing", type=float, nargs="+", metavar="S", help="working voxel spacing in mm: one value, or one per axis")
    grid.add_argument("--size", type=int, nargs="+", metavar="N", help="working grid shape, one value per axis")
    grid_group.add_argument(
        "--max-voxels", type=int, default=DEFAULT_MAX_VOXELS, metavar="N",
        help=f"refuse a crop or working grid of more than N voxels before any work starts (default {DEFAULT_MAX_VOXELS}, 512^3)",
    )
    output = parser.add_argument_group("output")
    output.add_argument("--figure", type=Path, metavar="PNG", help="write an overlay of the slice with the most wrong voxels (the most label if none is wrong); .png, .pdf, .svg, ... (needs matplotlib)")
    output.add_argument("--no-monai", action="store_true", help="skip MONAI's pipeline (ours only)")
    output.add_argument(
        "--probabilities", action="store_true",
        help="also map back a soft prediction (each class's share of every working voxel) as probabilities: SpaceInvertd(argmax=True)",
    )
    output.add_argument("--quiet", action="store_true", help="no progress bar on stderr")


def _validate(args: argparse.Namespace) -> None:
    from .inputs import check_path

    if (args.image is None) == (args.example is None):
        raise CliError("give the scan to check, or --example NAME (not both)")
    if args.spacing is None and args.size is None:
        raise CliError("give the working grid: --spacing S [S ...] or --size N [N ...]")
    if args.margin < 0:
        raise CliError(f"--margin: must be >= 0, got {args.margin}")
    if args.margin and args.crop_foreground is None:
        raise CliError("--margin applies to --crop-foreground only")
    if args.crop_foreground is not None and not np.isfinite(args.crop_foreground):
        raise CliError(f"--crop-foreground: threshold must be finite, got {args.crop_foreground}")
    if args.max_voxels < 1:
        raise CliError(f"--max-voxels: must be >= 1, got {args.max_voxels}")
    for name, path in (("image", args.image), ("--label", args.label)):
        if path is not None:
            check_path(name, path)
    if args.landmarks is not None and not args.landmarks.is_file():
        raise CliError(f"--landmarks: {'a folder, not a file' if args.landmarks.is_dir() else 'no such file'}: {str(args.landmarks)!r}")
    if args.figure is not None:
        _check_figure(args.figure)


def _check_figure(path: Path) -> None:
    """``--figure``: matplotlib is there, writes this file type, and the file can be created (before any work)."""
    _require_matplotlib()
    from matplotlib.backend_bases import FigureCanvasBase

    if path.is_dir():
        raise CliError(f"--figure: {str(path)!r} is a folder; give a file name, e.g. {str(path / 'worst.png')!r}")
    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in formats:
        raise CliError(f"--figure: matplotlib cannot write {path.suffix or 'a file without an extension'} "
                       f"({str(path)!r}); use one of .{', .'.join(formats)}")
    folder = path.absolute().parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise CliError(f"--figure: cannot create {str(path)!r}: {str(folder)!r} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise CliError(f"--figure: cannot write {str(path)!r}: permission denied")
    try:  # permission bits are not the whole story (root, /proc, read-only mounts): create a file there
        if path.exists():
            with open(path, "ab"):
                pass
        else:
            with tempfile.TemporaryFile(dir=folder):
                pass
    except OSError as err:
        raise CliError(f"--figure: cannot write {str(path)!r}: {err.strerror or err}") from None


def _check_budget(args: argparse.Namespace, image: Any, crop: Optional[dict[str, Any]], grid: dict[str, Any]) -> None:
    """Plan the crop and the working grid on a Space (no pixels) and refuse one over ``--max-voxels``."""
    from ..engine.limits import check_grid
    from ..errors import SpaceError
    from ..geometry.space import Space
    from ..transforms import foreground_box

    cropped = native = Space.from_metatensor(image)
    if crop is not None and "threshold" in crop:
        threshold = crop["threshold"]
        start, end = foreground_box(image, lambda x: x > threshold, margin=crop["margin"])
        cropped = native.crop(start, end)
    elif crop is not None:
        cropped = native.crop(crop["start"], crop["end"])
    def guard(shape: tuple[int, ...], what: str, remedy: str) -> None:
        try:
            check_grid(shape, what=what, max_voxels=args.max_voxels, limit_name="--max-voxels", remedy=remedy)
        except SpaceError as err:
            raise CliError(str(err)) from None

    # the crop first: a huge --margin is the margin's fault, not the working grid's
    if crop is None:
        guard(cropped.shape, "the scan's grid", "crop it with --roi or --crop-foreground")
    else:
        guard(cropped.shape, "the cropped grid", "use a smaller --margin" if "threshold" in crop else "use a smaller --roi")
    if "spacing" in grid:  # the size, estimated in floats first: a tiny spacing must not overflow the plan
        estimate = math.prod(float(n) * float(s) / float(t) for n, s, t in zip(cropped.shape, cropped.spacing, grid["spacing"]))
        if estimate > 2.0 * args.max_voxels:
            raise CliError(f"--spacing {grid['spacing']} gives a working grid of about {estimate:.3g} voxels, more than "
                           f"--max-voxels {args.max_voxels:,}; use a coarser --spacing, or raise --max-voxels if you have the memory")
    working = cropped.respace(grid["spacing"], align="centers") if "spacing" in grid else cropped.resize(grid["size"], align="edges")
    guard(working.shape, "the working grid", "use a coarser --spacing" if "spacing" in grid else "use a smaller --size")


def _crop(args: argparse.Namespace, image: Any) -> Optional[dict[str, Any]]:
    shape = tuple(int(n) for n in image.shape[1:])
    ndim = len(shape)
    if args.crop_foreground is not None:
        if not bool((image > args.crop_foreground).any()):
            raise CliError(f"--crop-foreground: no voxel of the image is above {args.crop_foreground:g}")
        return {"threshold": float(args.crop_foreground), "margin": int(args.margin)}
    if args.roi is None:
        return None
    if len(args.roi) != 2 * ndim:
        raise CliError(f"--roi: expected {2 * ndim} integers (start then end) for a {ndim}-D image, got {args.roi}")
    start, end = np.array(args.roi[:ndim]), np.array(args.roi[ndim:])
    if np.any(end <= start):
        raise CliError(f"--roi: empty or inverted box, start {start.tolist()} end {end.tolist()}")
    if np.any(start < 0) or np.any(end > np.array(shape)):
        raise CliError(f"--roi: box {start.tolist()}-{end.tolist()} leaves the image of shape {shape}")
    return {"start": tuple(int(v) for v in start), "end": tuple(int(v) for v in end)}


def _grid(args: argparse.Namespace, ndim: int) -> dict[str, Any]:
    name, values = ("--spacing", args.spacing) if args.spacing is not None else ("--size", args.size)
    if name == "--spacing" and len(values) == 1:
        values = values * ndim
    if len(values) != ndim:
        raise CliError(f"{name}: expected {ndim} values for a {ndim}-D image, got {values}")
    if not all(np.isfinite(v) and v > 0 for v in values):
        raise CliError(f"{name}: values must be positive, got {values}")
    return {"spacing": values} if name == "--spacing" else {"size": values}


def run(args: argparse.Namespace, fail: Callable[[str], int]) -> int:
    """Load, compare, print the report (and write the figure). Exit status 0, or 2 on bad input."""
    from ..compare import compare_roundtrip, example_scan
    from ..errors import SpaceTxError
    from .inputs import LOAD_STEPS, load_case, read_landmarks

    _validate(args)
    try:
        image = example_scan(args.example) if args.example is not None else args.image
    except FileNotFoundError as err:
        raise CliError(f"--example: {err}") from None
    # the bar's steps: loading (scan, label), planning, then compare_roundtrip's (4 ours, +1 probabilities, +2 MONAI)
    steps = LOAD_STEPS + 1 + (4 if args.no_monai else 6) + int(args.probabilities)
    progress = Progress(0 if args.quiet else steps)
    try:
        data, label_source, image_note = load_case(Path(image), args.label, args.crop_foreground, args.volume, progress=progress)
        progress("plan the crop and the working grid")
        ndim = data["image"].ndim - 1
        crop, grid = _crop(args, data["image"]), _grid(args, ndim)
        _check_budget(args, data["image"], crop, grid)
        world = None
        if args.landmarks is not None:
            world = read_landmarks(args.landmarks, ndim)
            if args.lps:
                world = world * np.array([-1.0, -1.0, 1.0][:ndim])  # LPS -> RAS: negate x and y
        report = compare_roundtrip(
            data, crop=crop, landmarks_world=world, with_monai=not args.no_monai, progress=progress, probabilities=args.probabilities, **grid
        )
    except (CliError, SpaceTxError, FileNotFoundError) as err:
        progress.abort()
        return fail(str(err))
    except MemoryError:
        progress.abort()
        return fail("out of memory (the scan or the working grid is too large for this machine): "
                    "use a coarser --spacing or a smaller --size (or a lower --max-voxels)")
    finally:
        progress.close()
    shown = f"{args.example} (an example scan shipped with nibabel)" if args.example is not None else str(image)
    shown += f" ({image_note})" if image_note else ""
    print(format_report(report, image=shown, label_source=label_source, crop=crop, grid=grid,
                        landmarks=None if world is None else f"{len(world)} points from {args.landmarks} ({'LPS' if args.lps else 'RAS'} mm)"))
    if args.figure is not None:
        from .figure import has_orientation, worst_slice_figure

        try:
            path = worst_slice_figure(report, to_numpy_image(data["image"]), args.figure, oriented=has_orientation(data["image"]))
        except OSError as err:
            return fail(f"--figure: cannot write {str(args.figure)!r}: {err.strerror or err}")
        print(f"figure: {path}")
    return 0


def to_numpy_image(image: Any) -> np.ndarray:
    """The scan's ``(*spatial)`` intensities as numpy."""
    from ..compare import to_numpy

    values: np.ndarray = to_numpy(image)[0]
    return values


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise CliError("--figure needs matplotlib: python -m pip install matplotlib") from None


def _fmt(value: Any, spec: str = "") -> str:
    return "n/a" if value is None else (format(value, spec) if spec else str(value))


def format_report(report: Any, *, image: str, label_source: str, crop: Optional[dict[str, Any]], grid: dict[str, Any], landmarks: Optional[str]) -> str:
    """The side-by-side text report of a :class:`~monai_spacetx.compare.RoundTrip`."""
    native, working = report.native, report.working
    if crop is None:
        crop_text = "none"
    elif "threshold" in crop:
        crop_text = f"foreground image > {crop['threshold']:g}, margin {crop['margin']}"
    else:
        crop_text = f"voxel box {list(crop['start'])} - {list(crop['end'])}"
    grid_text = (
        f"spacing {list(grid['spacing'])} mm (corner voxel centres kept)" if "spacing" in grid
        else f"size {list(grid['size'])} (field-of-view edges kept)"
    )
    total = int(np.prod(native.shape))
    inside = int(np.count_nonzero(report.inside))
    lines = [
        "monai-spacetx check: crop -> resample -> map back, round-trip accuracy",
        f"  image     : {image}",
        f"              shape {native.shape}, spacing {np.round(native.spacing, 4).tolist()} mm, axes {axis_codes(native.affine)}",
        f"  label     : {label_source}",
        f"  landmarks : {landmarks or 'none'}",
        f"  crop      : {crop_text}",
        f"  working   : {grid_text}: shape {working.shape}",
        f"  coverage  : {inside} of {total} native voxels lie inside the working grid, {total - inside} outside",
        "",
    ]
    columns = [("", "pipeline")] + [(r.name, r.steps) for r in report.results]
    rows: list[tuple[str, ...]] = [tuple(c[0] for c in columns), tuple(c[1] for c in columns)]

    def row(title: str, cell: Callable[[Any], str]) -> None:
        rows.append((title, *[cell(r) for r in report.results]))

    row("working shape", lambda r: _fmt(r.working_shape))
    row("mapped-back shape", lambda r: _fmt(r.native_shape))
    row("wrong voxels inside grid", lambda r: _fmt(r.score and r.score.wrong_inside))
    row("Dice inside grid", lambda r: _fmt(r.score and r.score.dice_inside, ".4f"))
    row("wrong voxels outside grid", lambda r: _fmt(r.score and r.score.wrong_outside))
    row("  back with mode='label'", lambda r: "n/a" if r.label_mode is None else f"{r.label_mode.wrong_inside} wrong inside, Dice {r.label_mode.dice_inside:.4f}")
    if report.results[0].probabilities is not None:
        row("  back as probabilities", lambda r: "n/a" if r.probabilities is None else f"{r.probabilities.wrong_inside} wrong inside, Dice {r.probabilities.dice_inside:.4f}")
    if report.results[0].landmark_mm is not None:
        row("landmark error max (mm)", lambda r: f"{r.landmark_mm.max():.2e}" + (" (affines by hand)" if r.name == "MONAI" else ""))
        row("landmarks outside grid", lambda r: _fmt(r.landmarks_outside))
    row("time (s)", lambda r: f"{r.seconds:.2f}")
    widths = [max(len(r[i]) for r in rows) + 2 for i in range(len(columns))]
    lines += ["  " + "".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines += [f"  note: {r.name}: {r.note}" for r in report.results if r.note]
    lines += [
        "  (wrong voxel: a native voxel whose label differs from the original after the round trip;",
        "   outside the working grid no model can predict anything, so those are counted apart)",
    ]
    if report.results[0].probabilities is not None:
        lines += [
            "  (probabilities: each class's share of every working voxel, as an ideal model's softmax would give,",
            "   mapped back linearly and argmaxed by SpaceInvertd(argmax=True): what exporting probabilities gives)",
        ]
    return "\n".join(lines)


def axis_codes(affine: np.ndarray) -> str:
    """Where each index axis points in MONAI's RAS world, e.g. ``"LAS"`` (``"RA"`` for 2-D)."""
    letters = (("L", "R"), ("P", "A"), ("I", "S"))
    ndim = affine.shape[0] - 1
    codes = []
    for axis in range(ndim):
        column = affine[:ndim, axis]
        world = int(np.argmax(np.abs(column)))
        codes.append(letters[world][1] if column[world] > 0 else letters[world][0])
    return "".join(codes)
