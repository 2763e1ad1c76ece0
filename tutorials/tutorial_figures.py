"""The lessons' figures: each panel a slice drawn as a radiologist reads it, with a caption.

Shared by the lessons so that each draws its figure in a few lines: panels show a native or
working-grid slice with ``imshow(slice.T, origin="lower")`` (index axis 0 to the right, axis 1
up), pixel-edge outlines and the world direction at each edge (from the slice's affine) from
:mod:`monai_spacetx.cli.figure`, and the caption is wrapped to the figure's width so that it is
never clipped. Needs matplotlib (the ``tutorials`` extra); every function returns ``None``
without it, so a lesson still runs and prints its numbers.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from monai_spacetx.cli.figure import OKABE_ITO, draw_outline, orientation_letters

__all__ = ["OKABE_ITO", "figure", "show_slice", "outline", "mark_wrong", "save"]


def figure(columns: int, width: float = 4.6, height: float = 4.6) -> Optional[tuple[Any, Any]]:
    """A figure with one row of ``columns`` panels (constrained layout), or ``None`` without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, never a window
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, columns, figsize=(width * columns, height), squeeze=False, layout="constrained")
    return fig, axes[0]


def show_slice(ax: Any, image: np.ndarray, title: str, affine: Optional[np.ndarray] = None, **style: Any) -> None:
    """Draw the 2-D ``image[i, j]`` with ``i`` to the right and ``j`` up; with ``affine`` (the
    volume's index -> world, RAS) the world direction at each edge."""
    ax.imshow(np.asarray(image).T, origin="lower", interpolation="nearest", **{"cmap": "gray", **style})
    if affine is not None:
        orientation_letters(ax, np.asarray(affine, dtype=np.float64), (0, 1))
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def outline(ax: Any, mask: np.ndarray, colour: str, label: str, dashed: bool = False) -> None:
    """The pixel-edge outline of a 2-D ``mask``, with a legend entry."""
    draw_outline(ax, np.asarray(mask, dtype=bool), OKABE_ITO[colour], label, **({"linestyles": "--"} if dashed else {}))


def mark_wrong(ax: Any, wrong: np.ndarray) -> int:
    """Paint the ``True`` pixels of a 2-D ``wrong`` mask vermillion; returns how many there are."""
    from matplotlib.colors import ListedColormap

    wrong = np.asarray(wrong, dtype=bool)
    ax.imshow(np.ma.masked_where(~wrong.T, wrong.T), origin="lower", interpolation="nearest", cmap=ListedColormap([OKABE_ITO["vermillion"]]))
    return int(wrong.sum())


def save(fig: Any, axes: Sequence[Any], caption: str, path: Path, legend: bool = True) -> Path:
    """Legends below the panels (never over the image or its orientation letters), the caption
    wrapped to the figure's width under them, then write ``path``."""
    import matplotlib.pyplot as plt

    if legend:
        for ax in axes:
            if ax.get_legend_handles_labels()[0]:
                ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=2, fontsize=8, frameon=False)
    characters = int(fig.get_figwidth() * 13)  # about 13 characters of 9 pt text per inch, with room to spare
    fig.supxlabel(textwrap.fill(caption, characters), fontsize=9, x=0.01, ha="left", multialignment="left")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- one function per lesson
def quickstart_figure(native_image: Any, native_label: Any, back: Any, working_image: Any, working_pred: Any, inside: np.ndarray, path: Path) -> Optional[Path]:
    """Lesson 00: the crop box on the scan, the network's grid, the prediction back on the scan.

    ``native_image``/``native_label``/``back`` are ``(*native)`` arrays (``back``: the prediction
    mapped back); ``working_image``/``working_pred`` ``(1, *working)`` MetaTensors; ``inside``
    the native voxels the working grid covers.
    """
    from monai_spacetx import get_native_space, get_space, map_points

    made = figure(3, height=5.0)
    if made is None:
        return None
    fig, axes = made
    native, working = get_native_space(working_image), get_space(working_image)
    z = int(np.argmax(np.count_nonzero(np.asarray(native_label), axis=(0, 1))))  # the slice with the most label
    centre = np.array([[(native.shape[0] - 1) / 2, (native.shape[1] - 1) / 2, z]])
    k = int(np.clip(np.rint(map_points(centre, native, working)[0, 2]), 0, working.shape[2] - 1))  # the same plane, working grid
    image, label, pred = np.asarray(native_image)[..., z], np.asarray(native_label)[..., z] > 0, np.asarray(back)[..., z] > 0
    show_slice(axes[0], image, f"the scan {native.shape}, 2 mm: slice {z}", native.affine)
    outline(axes[0], inside[..., z], "yellow", "crop box = working grid's field of view", dashed=True)
    show_slice(axes[1], np.asarray(working_image)[0, ..., k], f"the network's grid {working.shape}, 1 mm: slice {k}", working.affine)
    outline(axes[1], np.asarray(working_pred)[0, ..., k] > 0, "sky blue", "the prediction (threshold stand-in)")
    show_slice(axes[2], image, f"the prediction mapped back onto the scan: slice {z}", native.affine)
    outline(axes[2], label, "sky blue", "label computed on the scan itself")
    outline(axes[2], pred, "yellow", "prediction mapped back", dashed=True)
    wrong = mark_wrong(axes[2], (label != pred) & inside[..., z])
    return save(fig, axes, f"Crop (a copy, never interpolated) and one resample into the network's 1 mm grid; the prediction "
                f"goes straight back to the scan in one nearest resample. Inside the crop box it equals the label computed on the "
                f"scan itself: {wrong} wrong voxels on this slice (vermillion would show them); outside the box no model predicts anything, "
                f"so the mapped-back outline runs along the box where the tissue reaches it.", path)


def landmarks_figure(volume: np.ndarray, affine: np.ndarray, truth: np.ndarray, found: dict[str, np.ndarray], path: Path, half: int = 2) -> Optional[Path]:
    """Lesson 03: around each marker, its native slice with the true position and where each mapping put the detection.

    ``truth`` ``(N, 3)`` native indices; ``found`` name -> ``(N, 3)`` native indices (the first
    three names get a cross, a diamond and a circle).
    """
    made = figure(len(truth), width=3.6, height=4.2)
    if made is None:
        return None
    fig, axes = made
    styles = [("x", "sky blue", 160), ("D", "bluish green", 110), ("o", "vermillion", 140)]
    for number, (ax, point) in enumerate(zip(axes, truth), start=1):
        z = int(np.clip(np.rint(point[2]), 0, volume.shape[2] - 1))
        lo = np.maximum(np.rint(point[:2]).astype(int) - half, 0)
        hi = np.minimum(lo + 2 * half + 1, volume.shape[:2])
        show_slice(ax, volume[lo[0]:hi[0], lo[1]:hi[1], z], f"marker {number}: slice {z}, voxels {lo[0]}-{hi[0] - 1} x {lo[1]}-{hi[1] - 1}", affine)
        ax.scatter(*(point[:2] - lo), marker="+", s=500, linewidths=1.5, color="black", label="true position")
        for (name, points), (marker, colour, size) in zip(found.items(), styles):
            error = float(np.linalg.norm((affine[:3, :3] @ (points[number - 1] - point))))
            colours = {"color": OKABE_ITO[colour]} if marker == "x" else {"facecolors": "none", "edgecolors": OKABE_ITO[colour]}
            ax.scatter(*(points[number - 1][:2] - lo), marker=marker, s=size, linewidths=1.6, label=f"{name}: {error:.2f} mm", **colours)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=1, fontsize=7.5, frameon=False)
    return save(fig, axes, f"Each panel: a {2 * half + 1} x {2 * half + 1} voxel window (2 mm voxels) of the native scan around one planted marker, on the marker's slice "
                "(the detections are drawn at their in-plane position; the distance in the legend is in 3-D, mm). The detector ran on "
                "the 96 x 96 x 48 working grid; SpaceInvertd maps its detections back through the recorded geometry, as MONAI's affines "
                "do when chained by hand; scaling by box size / grid size forgets that voxel centres are not at the box edges.", path, legend=False)


def bundle_figure(volume: np.ndarray, ideal: np.ndarray, saved: np.ndarray, affine: np.ndarray, path: Path) -> Optional[Path]:
    """Lesson 04: the bundle's saved segmentation over the scan, on the slice where it differs most from the native threshold."""
    made = figure(1, width=7.0, height=7.4)
    if made is None:
        return None
    fig, axes = made
    differ = np.asarray(saved > 0) != np.asarray(ideal > 0)
    z = int(np.argmax(differ.sum(axis=(0, 1))))
    show_slice(axes[0], volume[..., z], f"saved segmentation over the scan: slice {z} of {volume.shape[2]}", affine)
    outline(axes[0], ideal[..., z], "sky blue", "threshold on the scan itself")
    outline(axes[0], saved[..., z], "yellow", "the bundle's saved segmentation", dashed=True)
    wrong = mark_wrong(axes[0], differ[..., z])
    return save(fig, axes, f"SaveImaged wrote the segmentation on the scan's own grid (same shape and affine), so it overlays the scan "
                f"voxel for voxel in any viewer. Vermillion ({wrong} on this slice, the one where they are most): the stand-in network ran on "
                "the config's 96 x 96 x 48 working grid, coarser than the scan along its first axis, and saw interpolated intensities.", path)


def augmentation_figure(ours: dict[str, Any], theirs: dict[str, Any], monai_values: int, path: Path) -> Optional[Path]:
    """Lesson 05: the augmented image and landmarks, our label, MONAI's label, on the middle slice."""
    made = figure(3, width=4.0, height=4.6)
    if made is None:
        return None
    fig, axes = made
    z = ours["image"].shape[-1] // 2
    points = np.asarray(ours["landmarks"])
    affine = np.asarray(ours["image"].affine, dtype=np.float64)
    show_slice(axes[0], ours["image"][0, ..., z], f"augmented image, slice {z} of {ours['image'].shape[-1]}", affine)
    near = np.abs(points[:, 2] - z) < 3
    axes[0].scatter(*points[near, :2].T, c=OKABE_ITO["orange"], s=30, label="landmarks within 3 slices")
    values = torch_unique(ours["label"])
    show_slice(axes[1], ours["label"][0, ..., z], f"label, monai-spacetx: {ours['label'].dtype}, values {values}", affine, vmin=0, vmax=1)
    show_slice(axes[2], theirs["label"][0, ..., z], f"label, MONAI lazy: {theirs['label'].dtype}, {monai_values} values",
               np.asarray(theirs["label"].affine, dtype=np.float64), vmin=0, vmax=1)
    return save(fig, axes, "One random rotation (up to 0.3 rad per axis) and scale (up to 15%), drawn by MONAI's RandAffined under "
                "Compose(lazy=True), executed with the reorientation and the 1.5 mm resample as one resample per key. Ours keeps the "
                "label's nearest: still uint8 with its two values (black and white only). MONAI's lazy flush interpolates it "
                "(MONAI issue #6850): the grey voxels are values between 0 and 1 that a label map should not hold.", path)


def torch_unique(x: Any) -> list[int]:
    """The distinct values of a tensor, as Python numbers."""
    return [int(v) for v in np.unique(np.asarray(x))]
