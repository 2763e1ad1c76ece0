"""Figures a radiologist can read: pixel-edge outlines, orientation letters, Okabe-Ito colours.

Used by ``monai-spacetx check --figure`` and the tutorials. Needs matplotlib (imported here,
never by the rest of the package).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

__all__ = ["OKABE_ITO", "pixel_edges", "outline_paths", "draw_outline", "orientation_letters", "has_orientation", "shown_slice", "worst_slice_figure"]

#: File types read as pictures (MONAI's ``PILReader``): pixels without a patient orientation.
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")

#: Okabe & Ito's colour-blind-safe palette.
OKABE_ITO = {
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
    "black": "#000000",
}


def pixel_edges(mask: np.ndarray) -> np.ndarray:
    """``(K, 2, 2)`` segments along the pixel edges that separate ``mask`` from the rest.

    For a 2-D ``mask[i, j]`` drawn with ``imshow(mask.T, origin="lower")`` (pixel ``(i, j)``
    centred at x = i, y = j): square outlines, no interpolated (chamfered) corners, so an
    outline is exactly the set of pixels it claims.
    """
    m = np.pad(np.asarray(mask, dtype=bool), 1)
    segments = []
    ii, jj = np.nonzero(m[1:, :] != m[:-1, :])  # edge between pixel (i-1, j-1) and (i, j-1): x = i - 0.5
    for i, j in zip(ii, jj):
        segments.append(((i - 0.5, j - 1.5), (i - 0.5, j - 0.5)))
    ii, jj = np.nonzero(m[:, 1:] != m[:, :-1])  # edge between (i-1, j-1) and (i-1, j): y = j - 0.5
    for i, j in zip(ii, jj):
        segments.append(((i - 1.5, j - 0.5), (i - 0.5, j - 0.5)))
    return np.asarray(segments, dtype=np.float64).reshape(-1, 2, 2)


def outline_paths(mask: np.ndarray) -> list[np.ndarray]:
    """:func:`pixel_edges` joined end to end into closed ``(M, 2)`` polylines, one per boundary loop.

    Drawn as one path each, a dashed style runs along the whole outline; drawn as separate
    one-pixel segments, every segment restarts the dash pattern and a dashed line looks solid.
    """
    segments = pixel_edges(mask)
    ends = np.round(segments * 2).astype(np.int64)  # corners sit on half-integers: exact integer keys
    touching: dict[tuple[int, int], list[int]] = {}
    for k, (a, b) in enumerate(ends):
        touching.setdefault((int(a[0]), int(a[1])), []).append(k)
        touching.setdefault((int(b[0]), int(b[1])), []).append(k)
    used = np.zeros(len(ends), dtype=bool)
    paths = []
    for first in range(len(ends)):
        if used[first]:
            continue
        used[first] = True
        start = (int(ends[first, 0, 0]), int(ends[first, 0, 1]))
        here = (int(ends[first, 1, 0]), int(ends[first, 1, 1]))
        points = [start, here]
        while here != start:  # every corner has 2 or 4 edges: the walk closes its loop
            step = next((k for k in touching[here] if not used[k]), None)
            if step is None:
                break
            used[step] = True
            a, b = (int(ends[step, 0, 0]), int(ends[step, 0, 1])), (int(ends[step, 1, 0]), int(ends[step, 1, 1]))
            here = b if a == here else a
            points.append(here)
        paths.append(np.asarray(points, dtype=np.float64) / 2.0)
    return paths


def draw_outline(ax: Any, mask: np.ndarray, color: str, label: str, **style: Any) -> None:
    """Draw ``mask``'s pixel-edge outline on ``ax`` with a legend entry ``label`` (one path per loop, so dashes show)."""
    from matplotlib.collections import LineCollection

    ax.add_collection(LineCollection(outline_paths(mask), colors=color, label=label, **{"linewidths": 1.2, **style}))


def orientation_letters(ax: Any, affine: np.ndarray, axes: tuple[int, int]) -> None:
    """Write the world direction (RAS letters) at the four edges of a panel showing index ``axes``.

    The panel's x axis is index axis ``axes[0]``, its y axis ``axes[1]`` (``imshow(.T, origin="lower")``).
    """
    from .check import axis_codes

    opposite = {"L": "R", "R": "L", "P": "A", "A": "P", "I": "S", "S": "I"}
    codes = axis_codes(affine)
    right, top = codes[axes[0]], codes[axes[1]]
    box = {"ha": "center", "va": "center", "transform": ax.transAxes, "fontsize": 11, "fontweight": "bold", "color": "white",
           "bbox": {"facecolor": "black", "alpha": 0.5, "pad": 1.5, "edgecolor": "none"}}
    ax.text(0.97, 0.5, right, **box)
    ax.text(0.03, 0.5, opposite[right], **box)
    ax.text(0.5, 0.96, top, **box)
    ax.text(0.5, 0.04, opposite[top], **box)


def has_orientation(image: Any) -> bool:
    """Whether a loaded image's axes have a patient direction that R/L/A/P/S/I letters may name.

    ``False`` for pictures (PNG, JPEG, ... read by MONAI's ``PILReader``, whose identity affine
    says nothing about the patient); ``True`` for scans (NIfTI, DICOM, NRRD, ...) and for anything
    without a file name (an array given a real affine).
    """
    meta = getattr(image, "meta", None) or {}
    if str(meta.get("format", "")).upper() in {"PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "MPO"}:
        return False
    name = meta.get("filename_or_obj")
    names = name if isinstance(name, (list, tuple)) else [name]
    return not any(isinstance(n, (str, Path)) and str(n).lower().endswith(PICTURE_SUFFIXES) for n in names)


def shown_slice(wrong: list[np.ndarray], label: np.ndarray) -> tuple[int, str]:
    """The slice (last index axis) a 3-D figure shows, and why: the most wrong voxels over all pipelines;
    when none is wrong, the most labelled voxels; with an empty label, the middle slice."""
    errors = np.sum([w.sum(axis=(0, 1)) for w in wrong], axis=0) if wrong else np.zeros(label.shape[2])
    if np.any(errors > 0):
        return int(np.argmax(errors)), "the slice with the most wrong voxels"
    labelled = np.count_nonzero(label, axis=(0, 1))
    if np.any(labelled > 0):
        return int(np.argmax(labelled)), "no wrong voxel anywhere: the slice with the most label"
    return label.shape[2] // 2, "no wrong voxel and no label: the middle slice"


def worst_slice_figure(report: Any, image: np.ndarray, path: Path, *, oriented: Optional[bool] = None) -> Path:
    """One panel per pipeline on the native slice (last axis) with the most wrong voxels.

    When no voxel is wrong, the slice with the most label (see :func:`shown_slice`).
    ``report`` is a :class:`~monai_spacetx.compare.RoundTrip`; ``image`` the scan's
    ``(*spatial)`` intensities; ``oriented``: write the world direction at each panel's edges
    (``False`` for a picture, see :func:`has_orientation`; ``None``: not for a 2-D image whose
    affine is the identity, what MONAI's picture reader gives). The axes leave a margin around the
    image, so the working grid's dashed box shows also where it runs along the image's border.
    Returns ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    label, inside = report.label, report.inside
    if oriented is None:
        oriented = not (report.native.ndim == 2 and np.array_equal(report.native.to_monai_affine(), np.eye(4)))
    scored = [r for r in report.results if r.back is not None and r.back.shape == label.shape]
    wrong = [(r.back != label) for r in scored]
    index, why = shown_slice(wrong, label) if label.ndim == 3 else (-1, "")
    where = f"slice {index} of {label.shape[2]} along index axis 2 ({why})" if label.ndim == 3 else "the image"

    def take(volume: np.ndarray) -> np.ndarray:
        """The shown 2-D slice of a native-grid array."""
        return volume[..., index] if volume.ndim == 3 else volume
    fig, axes = plt.subplots(1, len(scored), figsize=(5.2 * len(scored), 5.4), squeeze=False)
    for ax, result, mistakes in zip(axes[0], scored, wrong):
        ax.imshow(take(image).T, origin="lower", cmap="gray", interpolation="nearest")
        ax.imshow(np.ma.masked_where(~take(mistakes).T, take(mistakes).T), origin="lower", cmap=matplotlib.colors.ListedColormap([OKABE_ITO["vermillion"]]), alpha=0.85, interpolation="nearest")
        draw_outline(ax, take(label) > 0, OKABE_ITO["sky blue"], "original label")
        draw_outline(ax, take(inside), OKABE_ITO["yellow"], "working grid", linestyles="--")
        shape = take(label).shape
        margin = [max(1.0, 0.03 * n) for n in shape]  # room outside the image: a box on its border stays visible
        ax.set_xlim(-0.5 - margin[0], shape[0] - 0.5 + margin[0])
        ax.set_ylim(-0.5 - margin[1], shape[1] - 0.5 + margin[1])
        if oriented:
            orientation_letters(ax, report.native.affine, (0, 1))
        count = int(take(mistakes).sum())
        handles = ax.get_legend_handles_labels()[0] + [Patch(color=OKABE_ITO["vermillion"], label=f"wrong after round trip ({count})")]
        # below the panel: inside it, a legend hides the image and the orientation letters
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=3, fontsize=8, frameon=False, handlelength=2.5)
        ax.set_title(f"{result.name}: {result.steps}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    whole = bool(np.all(take(inside)))
    fig.text(
        0.5, 0.01,
        f"{where}: vermillion pixels changed label after crop -> resample -> map back; "
        "inside the dashed yellow box (the working grid) a perfect model should leave none"
        + (" (here the working grid covers the whole slice: its box is the image's border)." if whole else ".")
        + ("" if oriented else " A picture: its axes have no patient direction, so no R/L/A/P letters."),
        ha="center", fontsize=8, wrap=True,
    )
    fig.tight_layout(rect=(0, 0.07, 1, 1))  # room below the panels for their legends and the caption
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
