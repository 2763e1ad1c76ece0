"""``python -m monai_spacetx check``: round-trip accuracy on your own scan, ours next to MONAI's.

The command crops and resamples a user's image (and label, and landmarks) into a working
grid and maps the label and landmarks back to the native grid, twice:

- monai-spacetx: ``SpaceCropd`` + ``SpaceResampled`` forward, ``SpaceInvertd`` back
  (one resample from the working grid to the native grid);
- MONAI native: ``CropForegroundd``/``SpatialCropd`` + ``Spacingd``/``Resized`` forward,
  ``Invertd(nearest_interp=True)`` back; landmarks mapped through the MetaTensor affines by
  hand (world -> working index -> world), as a MONAI user would.

The "prediction" mapped back is the label as each pipeline itself carried it to the working
grid (a perfect model). Reported: native voxels whose label differs from the original,
mean Dice over the label's classes, and the landmark error in mm. Both pipelines use the
same working grid conventions: ``--spacing`` keeps the corner voxel centres (MONAI
``Spacingd``), ``--size`` keeps the field-of-view edges (MONAI ``Resized``).

Landmarks are world coordinates in mm, in MONAI's world frame (RAS, as the NIfTI affine);
pass ``--lps`` for files from ITK/3D Slicer/DICOM (LPS). CSV: one point per row (a header
row is skipped); JSON: a list of points, or ``{"landmarks": [...]}`` / ``{"points": [...]}``.

Wire-up: ``add_parser(subparsers)`` registers the ``check`` sub-command (its handler is
``run(args) -> int``); ``main(argv)`` runs it standalone.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .geometry.tolerances import AFFINE_MATCH_ATOL

__all__ = ["add_parser", "configure_parser", "run", "main", "check", "read_landmarks", "CheckError"]

DESCRIPTION = (
    "Round-trip accuracy of crop -> resample -> map back on your own NIfTI file: "
    "monai-spacetx next to MONAI's native transforms + Invertd."
)


class CheckError(ValueError):
    """A bad argument or input file for ``check`` (the message names it)."""


# ----------------------------------------------------------------------------- command line
def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``check`` arguments to ``parser``."""
    parser.add_argument("image", type=Path, help="image file (NIfTI or anything MONAI's LoadImage reads)")
    parser.add_argument("--label", type=Path, help="label map on the image's grid (default: image > threshold)")
    parser.add_argument("--landmarks", type=Path, help="landmarks file, .csv or .json, N x 3 world coordinates in mm")
    parser.add_argument("--lps", action="store_true", help="the landmarks are LPS (ITK, Slicer, DICOM) rather than RAS")
    crop = parser.add_mutually_exclusive_group()
    crop.add_argument(
        "--crop-foreground", type=float, metavar="THRESHOLD",
        help="crop to the bounding box of image > THRESHOLD (grown by --margin)",
    )
    crop.add_argument(
        "--roi", type=int, nargs="+", metavar="I",
        help="crop to the voxel box x0 y0 z0 x1 y1 z1 (start inclusive, end exclusive)",
    )
    grid = parser.add_mutually_exclusive_group(required=True)
    grid.add_argument("--spacing", type=float, nargs="+", metavar="S", help="working voxel spacing in mm: S or S S S")
    grid.add_argument("--size", type=int, nargs="+", metavar="N", help="working grid shape: N N N")
    parser.add_argument("--margin", type=int, default=0, help="voxels added around the foreground box (default 0)")
    return parser


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``check`` on an ``argparse`` sub-parsers object; the handler is ``args.func = run``."""
    parser = subparsers.add_parser("check", help="round-trip accuracy on your own image, ours vs MONAI", description=DESCRIPTION)
    configure_parser(parser)
    parser.set_defaults(func=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point: ``main(["image.nii.gz", "--size", "64", "64", "32"])``."""
    parser = configure_parser(argparse.ArgumentParser(prog="monai_spacetx check", description=DESCRIPTION))
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Run the check for parsed arguments; print the report. Returns 0, or 2 on bad input."""
    try:
        report = check(
            args.image,
            label=args.label,
            landmarks=args.landmarks,
            lps=args.lps,
            crop_foreground=args.crop_foreground,
            roi=args.roi,
            spacing=args.spacing,
            size=args.size,
            margin=args.margin,
        )
    except (CheckError, FileNotFoundError) as err:
        print(f"monai_spacetx check: error: {err}", file=sys.stderr)
        return 2
    print(format_report(report))
    return 0


# ----------------------------------------------------------------------------- inputs
def read_landmarks(path: Path | str, ndim: int = 3) -> np.ndarray:
    """Read ``(N, ndim)`` world coordinates from a ``.csv`` or ``.json`` file."""
    path = Path(path)
    if not path.is_file():
        raise CheckError(f"--landmarks: no such file: {str(path)!r}")
    suffix = path.suffix.lower()
    if suffix == ".json":
        content = json.loads(path.read_text())
        if isinstance(content, dict):
            for key in ("landmarks", "points"):
                if key in content:
                    content = content[key]
                    break
            else:
                raise CheckError(f"--landmarks {str(path)!r}: a JSON object needs a 'landmarks' or 'points' list")
        try:
            points = np.asarray(content, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise CheckError(f"--landmarks {str(path)!r}: not a list of numeric points ({err})") from err
    elif suffix == ".csv":
        rows = []
        with path.open(newline="") as handle:
            for number, row in enumerate(csv.reader(handle), start=1):
                cells = [c.strip() for c in row if c.strip()]
                if not cells:
                    continue
                try:
                    rows.append([float(c) for c in cells])
                except ValueError:
                    if rows:  # only a first (header) row may be non-numeric
                        raise CheckError(f"--landmarks {str(path)!r}: row {number} is not numeric: {row!r}") from None
        points = np.asarray(rows, dtype=np.float64) if rows else np.zeros((0, ndim))
    else:
        raise CheckError(f"--landmarks: expected a .csv or .json file, got {str(path)!r}")
    if points.ndim != 2 or points.shape[1] != ndim:
        raise CheckError(f"--landmarks {str(path)!r}: expected N x {ndim} coordinates, got shape {points.shape}")
    if len(points) == 0:
        raise CheckError(f"--landmarks {str(path)!r}: no points")
    if not np.all(np.isfinite(points)):
        raise CheckError(f"--landmarks {str(path)!r}: non-finite coordinates")
    return points


def _per_axis(values: Sequence[float] | None, ndim: int, name: str, integer: bool = False) -> tuple | None:
    if values is None:
        return None
    if name == "--spacing" and len(values) == 1:
        values = list(values) * ndim
    if len(values) != ndim:
        raise CheckError(f"{name}: expected {ndim} values for a {ndim}-D image, got {list(values)}")
    if any(v <= 0 or not np.isfinite(v) for v in values):
        raise CheckError(f"{name}: values must be positive, got {list(values)}")
    return tuple(int(v) for v in values) if integer else tuple(float(v) for v in values)


def _load(image: Path, label: Path | None, threshold: float | None) -> tuple[dict, str]:
    import torch
    from monai.data import MetaTensor
    from monai.transforms import LoadImaged

    for name, path in (("image", image), ("--label", label)):
        if path is not None and not Path(path).is_file():
            raise CheckError(f"{name}: no such file: {str(path)!r}")
    keys = ["image"] + (["label"] if label is not None else [])
    data = LoadImaged(keys, ensure_channel_first=True, image_only=True)(
        {"image": str(image), **({"label": str(label)} if label is not None else {})}
    )
    img = data["image"]
    if img.ndim not in (3, 4):
        raise CheckError(f"image: expected a 2-D or 3-D image, got spatial shape {tuple(img.shape[1:])}")
    if img.shape[0] != 1:
        raise CheckError(f"image: expected one channel, got {img.shape[0]} (shape {tuple(img.shape)})")
    if label is None:
        cut = float(threshold) if threshold is not None else float(img.float().mean())
        data["label"] = MetaTensor((img.as_tensor() > cut).to(torch.uint8), meta=copy.deepcopy(img.meta))
        source = f"stand-in: image > {cut:g}"
    else:
        lab = data["label"]
        if tuple(lab.shape[1:]) != tuple(img.shape[1:]) or not np.allclose(lab.affine.numpy(), img.affine.numpy(), atol=AFFINE_MATCH_ATOL):
            raise CheckError(
                f"--label: must lie on the image's grid; label shape {tuple(lab.shape[1:])} vs image {tuple(img.shape[1:])}"
            )
        data["label"] = MetaTensor(torch.round(lab.as_tensor()).to(torch.int64), meta=copy.deepcopy(lab.meta))
        source = str(label)
    return data, source


# ----------------------------------------------------------------------------- metrics
def _wrong(a: Any, b: np.ndarray) -> int:
    return int((np.asarray(a).squeeze() != b).sum())


def _dice(a: Any, b: np.ndarray) -> float | None:
    a = np.asarray(a).squeeze()
    classes = [k for k in np.unique(b) if k != 0]
    if not classes:
        return None
    return float(np.mean([2 * np.sum((a == k) & (b == k)) / (np.sum(a == k) + np.sum(b == k)) for k in classes]))


# ----------------------------------------------------------------------------- the two pipelines
def _ours(data: dict, crop: dict | None, grid: dict, native_label: np.ndarray, world: np.ndarray | None) -> dict:
    from monai.transforms import Compose

    from .geometry.space import Space
    from .transforms import SpaceCropd, SpaceInvertd, SpaceResampled

    keys = ["image", "label"]
    points = {"point_keys": "landmarks"} if world is not None else {}
    native = Space.from_metatensor(data["image"])
    if world is not None:
        data["landmarks"] = native.world_to_index(world)  # world mm -> native voxel indices
    steps = []
    if crop is not None and "threshold" in crop:
        threshold = crop["threshold"]
        steps.append(SpaceCropd(keys, source_key="image", select_fn=lambda x: x > threshold, margin=crop["margin"], **points))
    elif crop is not None:
        steps.append(SpaceCropd(keys, roi_start=crop["start"], roi_end=crop["end"], **points))
    if "spacing" in grid:
        steps.append(SpaceResampled(keys, pixdim=grid["spacing"], align="centers", mode=("linear", "nearest"), **points))
    else:
        steps.append(SpaceResampled(keys, spatial_size=grid["size"], align="edges", mode=("linear", "nearest"), **points))
    t0 = time.perf_counter()
    out = Compose(steps)(data)
    working_shape = tuple(out["image"].shape[1:])
    out["pred"] = out["label"]
    back = SpaceInvertd("pred", orig_keys="image", mode="nearest", **points)(out)
    seconds = time.perf_counter() - t0
    # the label-aware mode (per-class linear, then argmax), for working grids coarser than native
    label_aware = SpaceInvertd("pred", orig_keys="image", mode="label")(out)["pred"]
    result = {
        "working_shape": working_shape,
        "native_shape": tuple(back["pred"].shape[1:]),
        "wrong": _wrong(back["pred"], native_label),
        "dice": _dice(back["pred"], native_label),
        "wrong_label_mode": _wrong(label_aware, native_label),
        "dice_label_mode": _dice(label_aware, native_label),
        "seconds": seconds,
    }
    if world is not None:
        result["landmark_mm"] = np.linalg.norm(native.index_to_world(np.asarray(back["landmarks"])) - world, axis=1)
        result["landmarks_outside"] = int((~np.asarray(out["landmarks_in_grid"])).sum())
    return result


def _monai(data: dict, crop: dict | None, grid: dict, native_label: np.ndarray, world: np.ndarray | None) -> dict:
    from monai.data import MetaTensor
    from monai.transforms import Compose, CropForegroundd, Invertd, Resized, Spacingd, SpatialCropd

    from .geometry.points import apply_affine

    keys = ["image", "label"]
    steps = []
    if crop is not None and "threshold" in crop:
        threshold = crop["threshold"]
        steps.append(CropForegroundd(keys, source_key="image", select_fn=lambda x: x > threshold, margin=crop["margin"]))
    elif crop is not None:
        steps.append(SpatialCropd(keys, roi_start=crop["start"], roi_end=crop["end"]))
    if "spacing" in grid:
        steps.append(Spacingd(keys, pixdim=grid["spacing"], mode=("bilinear", "nearest")))
    else:
        steps.append(Resized(keys, spatial_size=grid["size"], mode=("trilinear" if len(grid["size"]) == 3 else "bilinear", "nearest")))
    pipeline = Compose(steps)
    t0 = time.perf_counter()
    out = pipeline(data)
    working_shape = tuple(out["image"].shape[1:])
    out["pred"] = MetaTensor(out["label"].as_tensor().clone())  # a model's output: a fresh MetaTensor
    back = Invertd("pred", transform=pipeline, orig_keys="image", nearest_interp=True)(out)
    seconds = time.perf_counter() - t0
    result = {
        "working_shape": working_shape,
        "native_shape": tuple(back["pred"].shape[1:]),
        "wrong": _wrong(back["pred"], native_label) if tuple(back["pred"].shape[1:]) == native_label.shape else None,
        "dice": _dice(back["pred"], native_label) if tuple(back["pred"].shape[1:]) == native_label.shape else None,
        "seconds": seconds,
    }
    if world is not None:
        # as a MONAI user: world -> working index with the working affine, and back
        working_affine = out["image"].affine.numpy().astype(np.float64)
        working_index = apply_affine(np.linalg.inv(working_affine), world)
        result["landmark_mm"] = np.linalg.norm(apply_affine(working_affine, working_index) - world, axis=1)
        shape = np.array(working_shape)
        result["landmarks_outside"] = int((~np.all((working_index >= -0.5) & (working_index <= shape - 0.5), axis=1)).sum())
    return result


def check(
    image: Path | str,
    label: Path | str | None = None,
    landmarks: Path | str | None = None,
    lps: bool = False,
    crop_foreground: float | None = None,
    roi: Sequence[int] | None = None,
    spacing: Sequence[float] | None = None,
    size: Sequence[int] | None = None,
    margin: int = 0,
) -> dict:
    """Run both pipelines on the files and return the report (see :func:`format_report`)."""
    if (spacing is None) == (size is None):
        raise CheckError("give exactly one of --spacing and --size")
    if crop_foreground is not None and roi is not None:
        raise CheckError("give at most one of --crop-foreground and --roi")
    if margin < 0:
        raise CheckError(f"--margin must be >= 0, got {margin}")
    if margin and crop_foreground is None:
        raise CheckError("--margin applies to --crop-foreground only")
    if crop_foreground is not None and not np.isfinite(crop_foreground):
        raise CheckError(f"--crop-foreground: threshold must be finite, got {crop_foreground}")

    data, label_source = _load(Path(image), Path(label) if label is not None else None, crop_foreground)
    ndim = data["image"].ndim - 1
    native_shape = tuple(data["image"].shape[1:])
    crop = None
    if crop_foreground is not None:
        crop = {"threshold": float(crop_foreground), "margin": int(margin)}
        if not bool((data["image"] > crop_foreground).any()):
            raise CheckError(f"--crop-foreground: no voxel of the image is above {crop_foreground:g}")
    elif roi is not None:
        if len(roi) != 2 * ndim:
            raise CheckError(f"--roi: expected {2 * ndim} integers (start then end) for a {ndim}-D image, got {list(roi)}")
        start, end = np.array(roi[:ndim]), np.array(roi[ndim:])
        if np.any(end <= start):
            raise CheckError(f"--roi: empty or inverted box, start {start.tolist()} end {end.tolist()}")
        if np.any(start < 0) or np.any(end > np.array(native_shape)):
            raise CheckError(f"--roi: box {start.tolist()}-{end.tolist()} leaves the image of shape {native_shape}")
        crop = {"start": tuple(int(v) for v in start), "end": tuple(int(v) for v in end)}
    grid = {"spacing": _per_axis(spacing, ndim, "--spacing")} if spacing is not None else {"size": _per_axis(size, ndim, "--size", True)}

    world = None
    if landmarks is not None:
        world = read_landmarks(landmarks, ndim)
        if lps:
            world = world * np.array([-1.0, -1.0, 1.0][:ndim])  # LPS -> RAS
    native_label = data["label"][0].numpy()

    from .geometry.space import Space

    native = Space.from_metatensor(data["image"])
    ours = _ours(copy.deepcopy(data), crop, grid, native_label, world)
    theirs = _monai(copy.deepcopy(data), crop, grid, native_label, world)
    return {
        "image": str(image),
        "native": native,
        "label": label_source,
        "landmarks": None if world is None else f"{len(world)} points from {landmarks} ({'LPS' if lps else 'RAS'} mm)",
        "crop": crop,
        "grid": grid,
        "results": {"monai-spacetx": ours, "MONAI": theirs},
    }


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "n/a"
    return format(value, spec) if spec else str(value)


def format_report(report: dict) -> str:
    """The side-by-side text report."""
    import nibabel as nib

    native = report["native"]
    crop, grid = report["crop"], report["grid"]
    if crop is None:
        crop_text = "none"
    elif "threshold" in crop:
        crop_text = f"foreground image > {crop['threshold']:g}, margin {crop['margin']}"
    else:
        crop_text = f"voxel box {list(crop['start'])} - {list(crop['end'])}"
    grid_text = (
        f"spacing {list(grid['spacing'])} mm (corner voxel centres kept)"
        if "spacing" in grid
        else f"size {list(grid['size'])} (field-of-view edges kept)"
    )
    axes = "".join(nib.aff2axcodes(native.affine)) if native.ndim == 3 else "-"
    lines = [
        "monai-spacetx check: crop -> resample -> map back, round-trip accuracy",
        f"  image     : {report['image']}",
        f"              shape {native.shape}, spacing {np.round(native.spacing, 4).tolist()} mm, axes {axes}",
        f"  label     : {report['label']}",
        f"  landmarks : {report['landmarks'] or 'none'}",
        f"  crop      : {crop_text}",
        f"  working   : {grid_text}",
        "",
    ]
    ours, theirs = report["results"]["monai-spacetx"], report["results"]["MONAI"]
    crop_name = "CropForegroundd" if crop is not None and "threshold" in crop else ("SpatialCropd" if crop else "")
    resample_name = "Spacingd" if "spacing" in grid else "Resized"
    ours_name = " + ".join(n for n in ("SpaceCropd" if crop else "", "SpaceResampled", "SpaceInvertd") if n)
    theirs_name = " + ".join(n for n in (crop_name, resample_name, "Invertd") if n)
    width = max(30, len(ours_name) + 2, len(theirs_name) + 2)
    rows = [
        ("", "monai-spacetx", "MONAI native"),
        ("pipeline", ours_name, theirs_name),
        ("working shape", _fmt(ours["working_shape"]), _fmt(theirs["working_shape"])),
        ("mapped-back shape", _fmt(ours["native_shape"]), _fmt(theirs["native_shape"])),
        ("wrong label voxels", _fmt(ours["wrong"]), _fmt(theirs["wrong"])),
        ("Dice (mean over classes)", _fmt(ours["dice"], ".4f"), _fmt(theirs["dice"], ".4f")),
        ("  back with mode='label'", f"{ours['wrong_label_mode']} wrong, Dice {_fmt(ours['dice_label_mode'], '.4f')}", "n/a"),
    ]
    if "landmark_mm" in ours:
        rows += [
            ("landmark error max (mm)", f"{ours['landmark_mm'].max():.2e}", f"{theirs['landmark_mm'].max():.2e} (affines by hand)"),
            ("landmarks outside working", str(ours["landmarks_outside"]), str(theirs["landmarks_outside"])),
        ]
    rows.append(("time (s)", f"{ours['seconds']:.2f}", f"{theirs['seconds']:.2f}"))
    lines += [f"  {a:<28}{b:<{width}}{c}" for a, b, c in rows]
    lines.append(
        f"  (wrong = native voxels whose label differs from the original among {int(np.prod(native.shape))}; "
        "labelled voxels outside the crop count as wrong for both; the label is carried to the working grid by each "
        "pipeline and mapped back with nearest)"
    )
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
