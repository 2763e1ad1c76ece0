"""Reading the ``check`` command's inputs: image (one volume of it), label, landmarks file."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from ..geometry.tolerances import AFFINE_MATCH_ATOL
from .text import CliError

__all__ = ["LOAD_STEPS", "load_case", "read_landmarks"]


def read_landmarks(path: Path, ndim: int) -> np.ndarray:
    """``(N, ndim)`` world coordinates from a ``.csv`` (one point a row, optional header) or ``.json`` file.

    JSON: a list of points, or an object with a ``"landmarks"`` or ``"points"`` list.
    """
    if not path.is_file():
        raise CliError(f"--landmarks: {'a folder, not a file' if path.is_dir() else 'no such file'}: {str(path)!r}")
    try:
        return _read_landmarks(path, ndim)
    except (UnicodeDecodeError, OSError) as err:
        raise CliError(f"--landmarks {str(path)!r}: cannot be read as text ({err})") from None


def _read_landmarks(path: Path, ndim: int) -> np.ndarray:
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
                numeric = [_is_number(c) for c in cells]
                if number == 1 and not any(numeric):  # a header: only the first row, and only words
                    continue
                if not all(numeric):
                    raise CliError(f"--landmarks {str(path)!r}: row {number} is not numeric: {row!r}")
                if len(cells) != ndim:
                    raise CliError(f"--landmarks {str(path)!r}: row {number} has {len(cells)} values {row!r}, "
                                   f"expected {ndim} coordinates for a {ndim}-D image")
                rows.append([float(c) for c in cells])
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


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


#: PIL modes of colour images (MONAI's PILReader puts the colour channels first).
_COLOUR_MODES = ("RGB", "RGBA", "RGBX", "RGBa")

#: ITU-R BT.601 luma weights, the ones PIL's ``convert("L")`` uses.
_LUMA = (0.299, 0.587, 0.114)


def _colour_to_luminance(image: Any, volume: Optional[int], path: Path) -> tuple[Any, Optional[str]]:
    """A colour image (RGB/RGBA PNG, JPG, ...) as one luminance channel, and the note that says so.

    Colour channels are not volumes: ``--volume`` is refused for them (it would pick a channel).
    """
    mode = image.meta.get("mode") if hasattr(image, "meta") else None
    if int(image.shape[0]) == 1 or not isinstance(mode, str):
        return image, None
    if mode in ("LA", "La"):  # grey + alpha: the grey channel
        luminance, what = image[0:1], f"{mode} (grey + alpha): the grey channel"
    elif mode in _COLOUR_MODES:
        import torch
        from monai.data import MetaTensor

        weights = torch.tensor(_LUMA, dtype=torch.float32).reshape(3, *([1] * (image.ndim - 1)))
        values = (image.as_tensor()[:3].float() * weights).sum(0, keepdim=True)
        luminance = MetaTensor(values, meta=dict(image.meta))
        what = f"{mode} colours converted to luminance, 0.299 R + 0.587 G + 0.114 B as PIL's convert('L')"
    else:
        raise CliError(f"image {str(path)!r}: colour mode {mode!r} is not supported; convert it to greyscale or RGB first")
    if volume is not None:
        raise CliError(
            f"--volume: {str(path)!r} is an {mode} image, whose {int(image.shape[0])} channels are colours, not volumes; "
            "leave out --volume (the image is converted to luminance)"
        )
    return luminance, what


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


def check_path(name: str, path: Path) -> None:
    """An input is a file, or a folder (read as a DICOM series); else one clear line."""
    if path.is_dir():
        if _dicom_reader() is None:
            raise CliError(
                f"{name} {str(path)!r}: a folder is read as a DICOM series, which needs pydicom "
                "(python -m pip install pydicom) or itk"
            )
        return
    if not path.is_file():
        raise CliError(f"{name}: no such file: {str(path)!r}")
    if path.stat().st_size == 0:
        raise CliError(f"{name} {str(path)!r}: the file is empty (0 bytes)")


def _dicom_reader() -> Optional[str]:
    """The MONAI reader that reads a DICOM series folder here (``PydicomReader`` or ``ITKReader``), or ``None``."""
    import importlib.util

    for module, reader in (("pydicom", "PydicomReader"), ("itk", "ITKReader")):
        if importlib.util.find_spec(module) is not None:
            return reader
    return None


#: What MONAI's LoadImage readers take by name (nibabel, NRRD, PIL, pydicom, ITK, numpy); a file named otherwise
#: that no reader read is "not NIfTI, NRRD, PNG/JPG/BMP/TIFF nor DICOM", whichever reader answered last.
_LOADIMAGE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm",
                       ".mha", ".mhd", ".npy", ".npz")


def read_image(name: str, path: Path) -> Any:
    """``LoadImage(ensure_channel_first=True)`` of ``path``; anything its readers raise becomes one line.

    The readers' chatter (warnings, log lines about optional GPU decoders) is kept off stderr.
    """
    import logging
    import warnings

    from monai.transforms import LoadImage

    check_path(name, path)
    reader = _dicom_reader() if path.is_dir() else None
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return LoadImage(reader=reader, ensure_channel_first=True, image_only=True)(str(path))
    except MemoryError:
        raise
    except Exception as err:  # the readers raise many types (nibabel, PIL, pydicom, ITK, RuntimeError, ...)
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        reason = lines[0][:200] if lines else type(err).__name__
        if not path.is_dir() and not path.name.lower().endswith(_LOADIMAGE_SUFFIXES):
            # decided by the name, not by which reader tried last (pydicom, or ITK where installed: each takes any file)
            reason = f"not NIfTI, NRRD, PNG/JPG/BMP/TIFF nor DICOM: {_unknown_suffix(path)}"
        what = "a DICOM series" if path.is_dir() else "an image"
        raise CliError(f"{name} {str(path)!r}: cannot be read as {what} by MONAI's LoadImage ({reason})") from None
    finally:
        logging.disable(previous)


#: Formats nibabel reads that MONAI's LoadImage does not: how to convert them.
_CONVERT = {".mgz": "FreeSurfer MGH", ".mgh": "FreeSurfer MGH", ".mnc": "MINC", ".hdr": "Analyze", ".img": "Analyze", ".par": "Philips PAR/REC"}


def _unknown_suffix(path: Path) -> str:
    """Why a file no reader took was refused, without the last reader's own complaint (pydicom's DICOM header)."""
    suffix = "".join(path.suffixes[-2:]) if path.name.lower().endswith(".gz") else path.suffix
    if suffix.lower() in _CONVERT:
        return (f"{_CONVERT[suffix.lower()]} {suffix} files are read by nibabel, not by LoadImage; convert it to NIfTI, "
                f"e.g. nibabel.save(nibabel.load(path), 'scan.nii.gz')")
    if not suffix:
        return "a file without an extension that is not a DICOM file either (no DICM header)"
    return f"no reader takes {suffix} files"


#: How many times :func:`load_case` calls its ``progress``: before reading the scan, before the label.
LOAD_STEPS = 2


def load_case(
    image: Path, label: Optional[Path], threshold: Optional[float], volume: Optional[int],
    progress: Optional[Callable[[str], None]] = None,
) -> tuple[dict[str, Any], str, Optional[str]]:
    """Load ``{"image", "label"}`` as ``(1, *spatial)`` MetaTensors.

    Returns them, where the label came from, and a note on the image (a colour image is
    converted to luminance; ``None`` otherwise). Without ``label`` the stand-in label is
    ``image > threshold`` (default: the image's mean). ``progress`` (a progress bar's step)
    is called with a short text before each of the :data:`LOAD_STEPS` stages: reading the
    scan, then reading (or thresholding) the label.
    """
    import torch
    from monai.data import MetaTensor

    step = progress if progress is not None else (lambda text: None)
    for name, path in (("image", image), ("--label", label)):
        if path is not None:
            check_path(name, path)
    step(f"read the scan ({'a DICOM series' if image.is_dir() else image.name})")
    img, note = _colour_to_luminance(read_image("image", image), volume, image)
    if img.ndim > 4:  # (C, *spatial) with 4+ spatial axes: --volume would leave a 4-D volume
        raise CliError(f"image {str(image)!r}: expected a 2-D or 3-D image (or a 4-D series of them, with --volume), got a "
                       f"{img.ndim}-D array of shape {tuple(img.shape[1:])} x {int(img.shape[0])}")
    img = _pick_volume(img, volume, image)
    if img.ndim not in (3, 4):
        raise CliError(f"image {str(image)!r}: expected a 2-D or 3-D image, got spatial shape {tuple(img.shape[1:])}")
    step("stand-in label: threshold the scan" if label is None else f"read the label ({label.name})")
    if label is None:
        cut = float(threshold) if threshold is not None else float(torch.nanmean(img.float()))  # NaN background (MR) ignored
        if not np.isfinite(cut):
            raise CliError(f"image {str(image)!r}: no finite intensity to threshold (all NaN or infinite); give --label")
        lab = MetaTensor((img.as_tensor() > cut).to(torch.uint8), meta=dict(img.meta))
        if threshold is None and not bool(lab.as_tensor().any()):  # nothing to compare (a threshold is checked by --crop-foreground): every pipeline would score Dice 1 on an empty label
            raise CliError(f"image {str(image)!r}: the stand-in label image > {cut:g} is empty (no voxel above it: a constant "
                           "image?); give --label, or --crop-foreground T with a lower T")
        return {"image": img, "label": lab}, f"stand-in: image > {cut:g}", note
    lab = read_image("--label", label)
    if lab.shape[0] != 1:
        raise CliError(f"--label {str(label)!r}: expected one label map, got {lab.shape[0]} channels")
    if tuple(lab.shape[1:]) != tuple(img.shape[1:]):
        raise CliError(
            f"--label {str(label)!r}: must lie on the image's grid; label shape {tuple(lab.shape[1:])} vs image {tuple(img.shape[1:])}"
        )
    offset = float(np.max(np.abs(lab.affine.numpy().astype(np.float64) - img.affine.numpy().astype(np.float64))))
    if not offset <= AFFINE_MATCH_ATOL:
        raise CliError(
            f"--label {str(label)!r}: must lie on the image's grid; same shape {tuple(img.shape[1:])} but its affine differs from "
            f"the image's by up to {offset:.4g} mm (label origin {np.round(lab.affine.numpy()[:-1, -1], 4).tolist()}, "
            f"image origin {np.round(img.affine.numpy()[:-1, -1], 4).tolist()})"
        )
    raw = lab.as_tensor().double()
    if not bool(torch.isfinite(raw).all()):
        raise CliError(f"--label {str(label)!r}: labels must be whole numbers 0..255, got NaN or infinite values")
    values = torch.round(raw)
    if not bool((values == raw).all()):  # rounding would merge classes (0.5 and 1.5 both become 2 ...)
        fractional = torch.unique(raw[raw != values])
        shown = ", ".join(f"{v:g}" for v in fractional[:5].tolist()) + (", ..." if fractional.numel() > 5 else "")
        raise CliError(f"--label {str(label)!r}: labels must be whole numbers 0..255, got {fractional.numel()} fractional "
                       f"value(s): {shown}")
    if values.min() < 0 or values.max() > 255:
        raise CliError(f"--label {str(label)!r}: labels must be 0..255, got {values.min().item():g}..{values.max().item():g}")
    return {"image": img, "label": MetaTensor(values.to(torch.uint8), meta=dict(lab.meta))}, str(label), note
