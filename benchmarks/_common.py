"""The benchmarks' one harness: machine lines, timing, tables, the synthetic CT-like case, the stand-in models.

The scripts import it as ``import _common`` (a script's own folder is on ``sys.path``).

A synthetic but realistic case: an oblique (rotated about two axes), anisotropic CT-like
volume with a multi-class label and a few landmarks, written to NIfTI in a temporary folder
and read back with MONAI's ``LoadImaged``, exactly as an inference script sees a scan.

The same physical field of view is used at every size: ``--quick`` only coarsens the grid.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from monai_spacetx.compare import dice, landmark_error_mm, to_numpy, wrong_voxels

THREADS = 2  # CI-like; set before any torch work

# Realistic default: a 256 x 256 x 120 abdominal CT (0.78 mm in-plane, 2.5 mm slices).
FULL_SHAPE = (256, 256, 120)
FULL_SPACING = (0.78125, 0.78125, 2.5)
QUICK_SHAPE = (64, 64, 30)  # same field of view, 4x coarser along each axis

CLASSES = (1, 2, 3)  # body, organ, lesion (0 is air)
HU = {0: -1000.0, 1: 40.0, 2: 90.0, 3: 150.0}
NOISE_HU = 12.0
BLOB_HU = 700.0  # landmark markers: small bright Gaussian blobs (think fiducials / calcifications)
BLOB_SIGMA_MM = 5.0  # at least 1.2 x the coarsest native spacing (--quick: 12 mm)


def setup_torch() -> Any:
    """Import torch with the CI-like thread count and quiet MONAI's deprecation chatter."""
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    import torch

    torch.set_num_threads(THREADS)
    return torch


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help=f"small volume {QUICK_SHAPE} instead of {FULL_SHAPE}")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per measurement (median reported)")
    parser.add_argument("--markdown", metavar="PATH", default=None, help="also write the tables to this markdown file")
    return parser.parse_args()


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_lines() -> list[str]:
    import monai
    import torch

    return [
        f"- CPU: {cpu_model()} ({os.cpu_count()} logical CPUs visible), torch threads: {torch.get_num_threads()}",
        f"- python {platform.python_version()}, torch {torch.__version__}, monai {monai.__version__}, numpy {np.__version__}",
        f"- load average at start: {load_average()} (timings are only comparable on an otherwise idle machine)",
    ]


def load_average() -> str:
    try:
        return " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


class Report:
    """Collects printed markdown so ``--markdown PATH`` can write the same text to a file."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def add(self, text: str = "") -> None:
        print(text, flush=True)
        self.parts.append(text)

    def write(self, path: str | None) -> None:
        if path:
            Path(path).write_text("\n".join(self.parts) + "\n")
            print(f"\n(wrote {path})")


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def fmt_s(seconds: float) -> str:
    return f"{seconds:.3f}" if seconds < 10 else f"{seconds:.2f}"


class Timer:
    def __enter__(self) -> "Timer":
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds = time.perf_counter() - self.t0


# ----------------------------------------------------------------------------- the case
def oblique_direction() -> np.ndarray:
    """Rotated 0.35 rad about z and 0.2 rad about x: no axis is aligned with the world."""
    a, b = 0.35, 0.2
    rz = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(b), -np.sin(b)], [0.0, np.sin(b), np.cos(b)]])
    return rz @ rx


def case_geometry(quick: bool, shape: Sequence[int] | None = None) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Grid shape and spacing of the case: ``shape`` (default: the quick or full one) over the same field of view."""
    shape = tuple(int(n) for n in shape) if shape is not None else (QUICK_SHAPE if quick else FULL_SHAPE)
    spacing = tuple(s * n / m for s, n, m in zip(FULL_SPACING, FULL_SHAPE, shape))
    return shape, spacing


def _index_mm_grid(shape: Sequence[int], spacing: Sequence[float]) -> np.ndarray:
    """Voxel-centre positions in mm along the tensor's own axes, origin at the field of view's centre."""
    axes = [(np.arange(n, dtype=np.float64) + 0.5 - n / 2.0) * s for n, s in zip(shape, spacing)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1)


def _ellipsoid(p: np.ndarray, centre: Sequence[float], radii: Sequence[float]) -> np.ndarray:
    return (((p - np.asarray(centre)) / np.asarray(radii)) ** 2).sum(-1) <= 1.0


def landmarks_index(shape: Sequence[int], spacing: Sequence[float]) -> np.ndarray:
    """Four landmarks (continuous index coordinates, off the voxel centres) inside the body, off the organ."""
    mm = np.array([[-40.3, -20.7, -55.2], [-35.9, 30.4, 45.6], [40.1, 28.8, -60.3], [-10.6, -30.2, 85.4]])
    return mm / np.asarray(spacing) + np.asarray(shape) / 2.0 - 0.5


def blob_sigma_mm(spacing: Sequence[float]) -> float:
    return max(BLOB_SIGMA_MM, 1.2 * float(max(spacing)))


def make_volume(shape: Sequence[int], spacing: Sequence[float], seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CT-like image (int16 HU), label (uint8: 0 air, 1 body, 2 organ, 3 lesion) and landmarks (index)."""
    p = _index_mm_grid(shape, spacing)
    body = _ellipsoid(p, (0.0, 4.0, 0.0), (84.0, 68.0, 140.0))
    organ = _ellipsoid(p, (18.0, -6.0, 12.0), (34.0, 26.0, 48.0)) & body
    lesion = _ellipsoid(p, (26.0, -2.0, 20.0), (11.0, 9.0, 13.0)) & organ
    label = body.astype(np.uint8) + organ.astype(np.uint8) + lesion.astype(np.uint8)
    image = np.choose(label, [HU[k] for k in range(4)]).astype(np.float64)
    rng = np.random.default_rng(seed)
    image = image + rng.normal(0.0, NOISE_HU, label.shape)
    points = landmarks_index(shape, spacing)
    sigma = blob_sigma_mm(spacing)
    for point in points:
        centre_mm = (point + 0.5 - np.asarray(shape) / 2.0) * np.asarray(spacing)
        image += BLOB_HU * np.exp(-(((p - centre_mm) ** 2).sum(-1)) / (2 * sigma**2))
    return np.round(image).astype(np.int16), label, points


def write_case(quick: bool, folder: str | None = None, shape: Sequence[int] | None = None) -> dict[str, Any]:
    """Write image + label NIfTI files of the oblique anisotropic case; return paths and truths.

    ``shape`` overrides the grid size (the field of view stays; see :func:`case_geometry`).
    """
    import nibabel as nib

    from monai_spacetx import Space

    shape, spacing = case_geometry(quick, shape)
    native = Space(shape, spacing=spacing, origin=(-120.5, 80.25, -310.0), direction=oblique_direction())
    image, label, points = make_volume(shape, spacing)
    folder = folder or tempfile.mkdtemp(prefix="spacetx_bench_")
    nib.save(nib.Nifti1Image(image, native.affine), os.path.join(folder, "image.nii.gz"))
    nib.save(nib.Nifti1Image(label, native.affine), os.path.join(folder, "label.nii.gz"))
    return {
        "image": os.path.join(folder, "image.nii.gz"),
        "label": os.path.join(folder, "label.nii.gz"),
        "folder": folder,
        "shape": shape,
        "spacing": spacing,
        "lab": label,
        "points": points,
        "sigma_mm": blob_sigma_mm(spacing),
    }


def load(case: dict[str, Any], keys: Sequence[str] = ("image", "label")) -> dict[str, Any]:
    from monai.transforms import LoadImaged

    return LoadImaged(list(keys), ensure_channel_first=True, image_only=True)({k: case[k] for k in keys})


def fresh(data: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a loaded sample, so every repeat starts from the same untouched input."""
    return copy.deepcopy(data)


# ----------------------------------------------------------------------------- metrics
# The package's one copy of the metrics (monai_spacetx.compare), under the names the scripts use.
wrong = wrong_voxels


def score(a: Any, b: Any, classes: Sequence[int]) -> str:
    return f"{wrong(a, b)} / {dice(a, b, classes):.4f}"


# ----------------------------------------------------------------------------- stand-in model
def ideal_prediction(image: Any, native: Any, label: np.ndarray, mode: str = "nearest") -> Any:
    """A perfect segmentation model: the native label sampled at the working grid's voxel centres.

    Returned as a MetaTensor carrying the working image's metadata, as a model fed a MetaTensor
    returns (MONAI's ``Invertd`` skips plain tensors and reads the prediction's affine).
    """
    import torch

    from monai_spacetx import get_space, warp_image

    data = warp_image(torch.from_numpy(np.ascontiguousarray(label))[None], native, get_space(image), mode=mode)
    return _like_image(data, image)


def ideal_probabilities(image: Any, native: Any, label: np.ndarray, n_classes: int) -> Any:
    """A perfect soft model: the one-hot native label sampled linearly on the working grid (C, *working)."""
    import torch

    from monai_spacetx import get_space, warp_image

    onehot = torch.from_numpy(np.stack([label == k for k in range(n_classes)]).astype(np.float32))
    return _like_image(warp_image(onehot, native, get_space(image), mode="linear"), image)


def _like_image(data: Any, image: Any) -> Any:
    from monai.data import MetaTensor

    tensor = data.as_tensor() if isinstance(data, MetaTensor) else data
    return MetaTensor(tensor, meta=copy.deepcopy(dict(image.meta)), applied_operations=copy.deepcopy(image.applied_operations))


def detect_landmarks(image: Any, guesses: np.ndarray, spacing: Sequence[float], sigma_mm: float) -> np.ndarray:
    """Stand-in landmark detector: weighted centroid of the bright blob near each guess (index coords).

    The window is +-3 sigma in mm around the rounded guess; weights are the intensity above a
    threshold halfway up the blob, so the tissue background and noise do not pull the centroid.
    """
    arr = to_numpy(image)[0].astype(np.float64)
    half = np.ceil(3.0 * sigma_mm / np.asarray(spacing, dtype=np.float64)).astype(int)
    threshold = HU[1] + BLOB_HU / 2.0
    found = []
    for guess in np.asarray(guesses, dtype=np.float64).reshape(-1, arr.ndim):
        centre = np.round(guess).astype(int)
        lo = np.maximum(centre - half, 0)
        hi = np.minimum(centre + half + 1, arr.shape)
        window = arr[tuple(slice(a, b) for a, b in zip(lo, hi))]
        weights = np.clip(window - threshold, 0.0, None)
        grids = np.meshgrid(*[np.arange(a, b, dtype=np.float64) for a, b in zip(lo, hi)], indexing="ij")
        total = weights.sum()
        found.append([float((g * weights).sum() / total) if total > 0 else np.nan for g in grids])
    return np.array(found)


point_error_mm = landmark_error_mm  # (N,) mm between index points on the grid of an affine


def world_to_index(points_world: np.ndarray, affine: Any) -> np.ndarray:
    """What a MONAI user writes: index = inv(affine) @ world (homogeneous), in float64."""
    aff = to_numpy(affine).astype(np.float64)
    homo = np.concatenate([np.asarray(points_world, dtype=np.float64), np.ones((len(points_world), 1))], 1)
    return (np.linalg.inv(aff) @ homo.T).T[:, :3]


def index_to_world(points_index: np.ndarray, affine: Any) -> np.ndarray:
    aff = to_numpy(affine).astype(np.float64)
    homo = np.concatenate([np.asarray(points_index, dtype=np.float64), np.ones((len(points_index), 1))], 1)
    return (aff @ homo.T).T[:, :3]


def time_call(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def computed(out: Any) -> Any:
    """``out`` with every tensor's pixels computed: what a training loop's next step (collate, the network) does.

    Under ``Compose(lazy=True)`` a Space step's output is computed when first read
    (``monai_spacetx.transforms.lazy.Deferred``); a forward timed or counted without reading its
    output would leave that work out.
    """
    values = out.values() if isinstance(out, dict) else out if isinstance(out, (list, tuple)) else [out]
    for value in values:
        if isinstance(value, (dict, list, tuple)):
            computed(value)
        elif hasattr(value, "as_tensor"):
            value.as_tensor()
    return out
