"""The seed experiment: crop -> resample -> analyse -> map back, five ways, on one tiny 2-D image.

The experiment: a 35x35 image holds a 9x9 square (value 1) whose centre pixel is 5. We
crop a 15x15 region of interest starting at (10, 10), resample it to a 32x32 working
grid (as a network input would be), run a "segmentation" (``>= 0.5``) and a "keypoint
detector" (mean position of the pixels ``>= 3``) on the working grid, and map both
results back to the 35x35 grid. The right answers are known: the keypoint is at (17, 17)
and the mask is ``image >= 0.5``.

Methods compared:

- SimpleITK, scipy.ndimage ``zoom`` and torch ``F.interpolate``, written the way one
  usually writes them (manual scale factors and offsets);
- MONAI's own ``SpatialCropd + Resized + Invertd`` (keypoint mapped through the affines);
- monai-spacetx: ``SpaceCropd + SpaceResampled`` forward, ``SpaceInvertd`` back, with the
  keypoint travelling through ``point_keys``.

Index coordinates are (row, column) = the tensor's own axis order; pixel centres sit at
integers and pixel ``i`` covers ``[i - 0.5, i + 0.5]``.

Run: ``python benchmarks/bench_seed.py --out outputs`` (writes ``seed_comparison.png``).
The README's seed table comes from here.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

import numpy as np

SIZE = 35
ROI_START = (10, 10)  # (row, column)
ROI_SIZE = 15
TARGET_SIZE = 32
TRUE_KEYPOINT = np.array([17.0, 17.0])


# --------------------------------------------------------------------------- the experiment
def create_test_image() -> np.ndarray:
    img = np.zeros((SIZE, SIZE), dtype=np.float32)
    c, half = SIZE // 2, 4
    img[c - half : c + half + 1, c - half : c + half + 1] = 1.0
    img[c, c] = 5.0
    return img


def get_segmentation(img: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    return (np.asarray(img) >= threshold).astype(np.uint8)


def get_keypoint(img: np.ndarray) -> np.ndarray:
    """Mean (row, column) of the pixels >= 3, in the index units of ``img``."""
    candidates = np.argwhere(np.asarray(img) >= 3)
    return candidates.mean(axis=0) if len(candidates) else np.zeros(2)


def _paste_roi(segment_roi: np.ndarray) -> np.ndarray:
    out = np.zeros((SIZE, SIZE), dtype=np.uint8)
    r, c = ROI_START
    out[r : r + ROI_SIZE, c : c + ROI_SIZE] = segment_roi
    return out


# --------------------------------------------------------------------------- the peers, as usually written
def process_with_simpleitk(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import SimpleITK as sitk

    sitk_img = sitk.GetImageFromArray(img)  # note: SimpleITK indexes (x, y) = (column, row)
    sitk_img.SetSpacing([1.0, 1.0])
    sitk_img.SetOrigin([0.0, 0.0])
    roi_start_xy = [ROI_START[1], ROI_START[0]]
    roi = sitk.RegionOfInterest(sitk_img, [ROI_SIZE, ROI_SIZE], roi_start_xy)
    # The usual recipe: new spacing = physical size / new size, origin kept. The origin is
    # the first pixel *centre*, so the working grid overshoots the ROI at the far edge.
    spacing = [ROI_SIZE * roi.GetSpacing()[i] / TARGET_SIZE for i in range(2)]
    resampler = sitk.ResampleImageFilter()
    resampler.SetOutputSpacing(spacing)
    resampler.SetSize([TARGET_SIZE, TARGET_SIZE])
    resampler.SetOutputOrigin(roi.GetOrigin())
    resampler.SetOutputDirection(roi.GetDirection())
    resampler.SetInterpolator(sitk.sitkLinear)
    resampler.SetDefaultPixelValue(0)
    working = resampler.Execute(roi)
    working_arr = sitk.GetArrayFromImage(working)
    segment = get_segmentation(working_arr)
    keypoint = get_keypoint(working_arr) * (ROI_SIZE / TARGET_SIZE) + np.array(ROI_START)
    segment_img = sitk.GetImageFromArray(segment.astype(np.float32))
    segment_img.SetSpacing(spacing)
    segment_img.SetOrigin(working.GetOrigin())
    back = sitk.ResampleImageFilter()
    back.SetOutputSpacing(roi.GetSpacing())
    back.SetSize([ROI_SIZE, ROI_SIZE])
    back.SetOutputOrigin(roi.GetOrigin())
    back.SetInterpolator(sitk.sitkNearestNeighbor)
    back.SetDefaultPixelValue(0)
    segment_roi = sitk.GetArrayFromImage(back.Execute(segment_img))
    return _paste_roi(segment_roi), keypoint


def process_with_scipy(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from scipy.ndimage import zoom

    r, c = ROI_START
    roi = img[r : r + ROI_SIZE, c : c + ROI_SIZE]
    factor = TARGET_SIZE / ROI_SIZE
    working = zoom(roi, factor, order=1, mode="constant", cval=0)  # corner-aligned, not edge-aligned
    segment = get_segmentation(working)
    keypoint = get_keypoint(working) / factor + np.array(ROI_START)
    segment_roi = zoom(segment.astype(np.float32), 1.0 / factor, order=0, mode="constant", cval=0)
    return _paste_roi(segment_roi), keypoint


def process_with_torch(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import torch
    import torch.nn.functional as F

    r, c = ROI_START
    roi = torch.from_numpy(img)[None, None, r : r + ROI_SIZE, c : c + ROI_SIZE]
    working = F.interpolate(roi, size=(TARGET_SIZE, TARGET_SIZE), mode="bilinear", align_corners=False)[0, 0].numpy()
    segment = get_segmentation(working)
    # the usual scaling, which forgets the half-pixel offset of align_corners=False
    keypoint = get_keypoint(working) * (ROI_SIZE / TARGET_SIZE) + np.array(ROI_START)
    segment_t = torch.from_numpy(segment.astype(np.float32))[None, None]
    # torch's "nearest" picks floor(j * scale): not centre-consistent, the mask shifts
    segment_roi = F.interpolate(segment_t, size=(ROI_SIZE, ROI_SIZE), mode="nearest")[0, 0].numpy().astype(np.uint8)
    return _paste_roi(segment_roi), keypoint


def process_with_monai(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import torch
    from monai.data import MetaTensor
    from monai.transforms import Compose, Invertd, Resized, SpatialCropd

    r, c = ROI_START
    pipeline = Compose(
        [
            SpatialCropd("image", roi_start=(r, c), roi_end=(r + ROI_SIZE, c + ROI_SIZE)),
            Resized("image", spatial_size=(TARGET_SIZE, TARGET_SIZE), mode="bilinear"),
        ]
    )
    data = pipeline({"image": MetaTensor(torch.from_numpy(img)[None])})  # (C, H, W), identity affine
    working = data["image"][0].numpy()
    # MONAI's Invertd needs a MetaTensor prediction (it skips plain tensors)
    data["pred"] = MetaTensor(torch.from_numpy(get_segmentation(working))[None])
    back = Invertd("pred", transform=pipeline, orig_keys="image", nearest_interp=True)(data)
    # The keypoint, as a MONAI user maps it: working index -> world (working affine) ->
    # native index (inverse of the loaded affine, the identity here).
    affine = data["image"].affine.numpy()
    keypoint_world = affine[:2, :2] @ get_keypoint(working) + affine[:2, 3]
    return back["pred"][0].numpy().astype(np.uint8), keypoint_world


def process_with_spacetx(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import torch
    from monai.data import MetaTensor
    from monai.transforms import Compose

    from monai_spacetx import SpaceCropd, SpaceInvertd, SpaceResampled

    r, c = ROI_START
    forward = Compose(
        [
            SpaceCropd("image", roi_start=(r, c), roi_end=(r + ROI_SIZE, c + ROI_SIZE)),
            # edges of the 15x15 field of view are kept: each working pixel is 15/32 wide
            SpaceResampled("image", spatial_size=(TARGET_SIZE, TARGET_SIZE), mode="linear"),
        ]
    )
    data = forward({"image": MetaTensor(torch.from_numpy(img)[None])})
    working = data["image"][0].numpy()
    # the "network" outputs: a mask and a keypoint, both on the working grid
    data["mask"] = torch.from_numpy(get_segmentation(working))[None]
    data["keypoint"] = get_keypoint(working)[None]  # (N, 2) working-grid indices
    # one resample straight back to the native grid; the keypoint rides along
    back = SpaceInvertd("mask", orig_keys="image", mode="nearest", point_keys="keypoint")(data)
    return back["mask"][0].numpy().astype(np.uint8), np.asarray(back["keypoint"])[0]


METHODS: dict[str, tuple[str, Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]]] = {
    "SimpleITK": ("SimpleITK", process_with_simpleitk),
    "scipy.ndimage zoom": ("scipy", process_with_scipy),
    "torch F.interpolate": ("torch", process_with_torch),
    "MONAI SpatialCropd+Resized+Invertd": ("monai", process_with_monai),
    "monai-spacetx": ("monai_spacetx", process_with_spacetx),
}


# --------------------------------------------------------------------------- running and reporting
def run_method(name: str, img: np.ndarray) -> dict:
    module, fn = METHODS[name]
    try:
        __import__(module)
    except ImportError as err:  # a peer that is not installed is reported, never faked
        return {"status": f"skipped ({module} not installed: {err})", "keypoint_error_px": None, "wrong_pixels": None}
    mask, keypoint = fn(img)
    truth = get_segmentation(img)
    return {
        "status": "ok",
        "keypoint": np.asarray(keypoint, dtype=np.float64),
        "mask": mask,
        "keypoint_error_px": float(np.linalg.norm(np.asarray(keypoint, dtype=np.float64) - TRUE_KEYPOINT)),
        "wrong_pixels": int((mask != truth).sum()),
    }


def format_table(results: dict[str, dict]) -> str:
    lines = [f"{'method':<36} {'keypoint error (px)':>20} {'wrong mask pixels':>18}", "-" * 76]
    for name, r in results.items():
        if r["status"] != "ok":
            lines.append(f"{name:<36} {r['status']}")
        else:
            lines.append(f"{name:<36} {r['keypoint_error_px']:>20.6f} {r['wrong_pixels']:>18d}")
    return "\n".join(lines)


def plot(img: np.ndarray, results: dict[str, dict], path: Path) -> None:
    """One panel per method: true and mapped-back masks as pixel-edge outlines, wrong pixels, keypoints."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from monai_spacetx.cli.figure import OKABE_ITO, draw_outline

    truth = get_segmentation(img)
    fig, axes = plt.subplots(1, len(results), figsize=(3.7 * len(results), 4.6), squeeze=False)
    for ax, (name, r) in zip(axes[0], results.items()):
        ax.imshow(img, cmap="gray", alpha=0.6, interpolation="nearest")  # pixel (row, col) at x=col, y=row
        draw_outline(ax, truth.T, OKABE_ITO["sky blue"], "true mask", linewidths=2.5)
        handles = []
        if r["status"] == "ok":
            wrong = r["mask"] != truth
            ax.imshow(np.ma.masked_where(~wrong, wrong), interpolation="nearest",
                      cmap=matplotlib.colors.ListedColormap([OKABE_ITO["vermillion"]]))
            draw_outline(ax, r["mask"].T > 0, OKABE_ITO["black"], "mask mapped back", linestyles="--")
            ax.plot(r["keypoint"][1], r["keypoint"][0], "o", color=OKABE_ITO["reddish purple"], markersize=7, label="keypoint mapped back")
            handles = [Patch(color=OKABE_ITO["vermillion"], label=f"wrong pixels ({r['wrong_pixels']})")]
            text = f"keypoint error {r['keypoint_error_px']:.3f} px"
        else:
            text = r["status"]
        ax.plot(TRUE_KEYPOINT[1], TRUE_KEYPOINT[0], "+", color=OKABE_ITO["bluish green"], markersize=14, markeredgewidth=3, label="true keypoint")
        ax.legend(handles=ax.get_legend_handles_labels()[0] + handles, loc="lower left", fontsize=7, framealpha=0.9)
        ax.set_title(f"{name}\n{text}", fontsize=9)
        ax.set_xlim(8.5, 26.5)
        ax.set_ylim(26.5, 8.5)
        ax.set_xlabel("column (index axis 1)", fontsize=8)
        ax.set_ylabel("row (index axis 0)", fontsize=8)
    fig.text(0.5, 0.01, "Look at the vermillion pixels and the purple dot: where each method's mapped-back mask and keypoint "
             "leave the truth (blue outline, green cross).", ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(out_dir: Path = Path("outputs")) -> dict:
    """Run every method, print the table, write ``seed_comparison.png``; return the numbers."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    img = create_test_image()
    results = {name: run_method(name, img) for name in METHODS}
    table = format_table(results)
    print("Seed experiment: 35x35 image, ROI 15x15 at (10, 10), working grid 32x32, map back")
    print(table)
    figure = out_dir / "seed_comparison.png"
    try:
        plot(img, results, figure)
    except ImportError as err:
        print(f"figure skipped (matplotlib not installed: {err})")
        figure = None
    else:
        print(f"figure: {figure}")
    numbers = {
        name: {k: r[k] for k in ("status", "keypoint_error_px", "wrong_pixels")} for name, r in results.items()
    }
    return {"methods": numbers, "table": table, "figure": str(figure) if figure else None}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs"), help="folder for the figure (default: outputs)")
    main(parser.parse_args().out)
