"""Reading the ``check`` command's inputs: image (one volume of it), label, landmarks file."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..geometry.tolerances import AFFINE_MATCH_ATOL
from .text import CliError

__all__ = ["load_case", "read_landmarks"]


def read_landmarks(path: Path, ndim: int) -> np.ndarray:
    """``(N, ndim)`` world coordinates from a ``.csv`` (one point a row, optional header) or ``.json`` file.

    JSON: a list of points, or an object with a ``"landmarks"`` or ``"points"`` list.
    """
    if not path.is_file():
        raise CliError(f"--landmarks: no such file: {str(path)!r}")
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            content = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise CliError(f"--landmarks {str(path)!r}: not valid JSON ({err})") from None
        if isinstance(content, dict):
            found = [content[k] for k in ("landmarks", "points") if k in content]
            if not found:
                raise CliError(f"--landmarks {str(path)!r}: a JSON object needs a 'landmarks' or 'points' list")
            content = found[0]
        try:
            points = np.asarray(content, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise CliError(f"--landmarks {str(path)!r}: not a list of numeric points ({err})") from None
    elif suffix == ".csv":
        rows: list[list[float]] = []
        with path.open(newline="") as handle:
            for number, row in enumerate(csv.reader(handle), start=1):
                cells = [c.strip() for c in row if c.strip()]
                if not cells:
                    continue
                try:
                    rows.append([float(c) for c in cells])
                except ValueError:
                    if rows or number > 1:  # only the first row may be a header
                        raise CliError(f"--landmarks {str(path)!r}: row {number} is not numeric: {row!r}") from None
        points = np.asarray(rows, dtype=np.float64) if rows else np.zeros((0, ndim))
    else:
        raise CliError(f"--landmarks: expected a .csv or .json file, got {str(path)!r}")
    if points.ndim != 2 or points.shape[1] != ndim:
        raise CliError(f"--landmarks {str(path)!r}: expected N x {ndim} coordinates for a {ndim}-D image, got shape {points.shape}")
    if len(points) == 0:
        raise CliError(f"--landmarks {str(path)!r}: no points")
    if not np.all(np.isfinite(points)):
        raise CliError(f"--landmarks {str(path)!r}: non-finite coordinates")
    return points


def _pick_volume(image: Any, volume: Optional[int], path: Path) -> Any:
    count = int(image.shape[0])
    if volume is None:
        if count != 1:
            raise CliError(
                f"image {str(path)!r} holds {count} volumes (shape {tuple(image.shape[1:])} x {count}); "
                f"pick one with --volume N, N in 0..{count - 1}"
            )
        return image
    if not 0 <= volume < count:
        raise CliError(f"--volume: expected 0..{count - 1} for {str(path)!r} ({count} volumes), got {volume}")
    return image[volume : volume + 1]


def load_case(image: Path, label: Optional[Path], threshold: Optional[float], volume: Optional[int]) -> tuple[dict[str, Any], str]:
    """Load ``{"image", "label"}`` as ``(1, *spatial)`` MetaTensors; returns them and where the label came from.

    Without ``label`` the stand-in label is ``image > threshold`` (default: the image's mean).
    """
    import torch
    from monai.data import MetaTensor
    from monai.transforms import LoadImage

    for name, path in (("image", image), ("--label", label)):
        if path is not None and not path.is_file():
            raise CliError(f"{name}: no such file: {str(path)!r}")
    loader = LoadImage(ensure_channel_first=True, image_only=True)
    img = _pick_volume(loader(str(image)), volume, image)
    if img.ndim not in (3, 4):
        raise CliError(f"image {str(image)!r}: expected a 2-D or 3-D image, got spatial shape {tuple(img.shape[1:])}")
    if label is None:
        cut = float(threshold) if threshold is not None else float(img.float().mean())
        lab = MetaTensor((img.as_tensor() > cut).to(torch.uint8), meta=dict(img.meta))
        return {"image": img, "label": lab}, f"stand-in: image > {cut:g}"
    lab = loader(str(label))
    if lab.shape[0] != 1:
        raise CliError(f"--label {str(label)!r}: expected one label map, got {lab.shape[0]} channels")
    if tuple(lab.shape[1:]) != tuple(img.shape[1:]) or not np.allclose(lab.affine.numpy(), img.affine.numpy(), atol=AFFINE_MATCH_ATOL):
        raise CliError(
            f"--label {str(label)!r}: must lie on the image's grid; label shape {tuple(lab.shape[1:])} vs image {tuple(img.shape[1:])}"
        )
    values = torch.round(lab.as_tensor())
    if values.min() < 0 or values.max() > 255:
        raise CliError(f"--label {str(label)!r}: labels must be 0..255, got {values.min().item():g}..{values.max().item():g}")
    return {"image": img, "label": MetaTensor(values.to(torch.uint8), meta=dict(lab.meta))}, str(label)
