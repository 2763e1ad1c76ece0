"""Draw ``docs/figures/mapback_modes.png``: the four map-back modes of ``SpaceInvertd`` side by side.

Run from the repository root (needs matplotlib, the ``tutorials`` extra)::

    python docs/figures/make_mapback_figure.py            # rewrites docs/figures/mapback_modes.png

A 2-D native label map (1 mm pixels, three classes: background, a disk, a 3 mm wide bar) is
drawn from two analytic shapes. An *ideal* network on a working grid predicts, for each working
pixel, the native label at its centre (hard labels) or the share of each class of the native
label map in its area (probabilities, by 8x8 supersampling). Each prediction goes back to the native grid with
``SpaceInvertd`` in the mode that fits it, and the pixels that differ from the native label map
are counted (and drawn in red). The same calls a pipeline makes: ``SpaceResampled`` plans the
working grid, ``SpaceInvertd`` maps back.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the checkout's package

from monai.data import MetaTensor  # noqa: E402

from monai_spacetx import Space, SpaceInvertd, SpaceResampled, get_space  # noqa: E402

NATIVE = Space((96, 96), spacing=(1.0, 1.0))
FINE, COARSE = 0.7, 3.3  # working-grid spacings (mm): finer than the scan, and coarser
VIEW = (10.0, 84.0)  # the part of the 96 x 96 mm field of view drawn (mm, both axes): the shapes, enlarged
COLOURS = np.array([[0.08, 0.08, 0.10], [0.30, 0.62, 0.95], [0.98, 0.76, 0.20]])


def classes_at(world: np.ndarray) -> np.ndarray:
    """The analytic label at world points ``(..., 2)``: 1 inside the disk, 2 on the bar (drawn over it), else 0."""
    x, y = world[..., 0], world[..., 1]
    label = np.zeros(x.shape, dtype=np.int64)
    label[(x - 44.3) ** 2 + (y - 49.1) ** 2 <= 27.4**2] = 1
    label[(np.abs((x - 50.0) * 0.8 - (y - 46.0) * 0.6) <= 1.5) & (np.abs((x - 50.0) * 0.6 + (y - 46.0) * 0.8) <= 34.0)] = 2
    return label


def centres(space: Space) -> np.ndarray:
    """World coordinates of every pixel centre of ``space``, shaped ``(*shape, 2)``."""
    index = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float64) for n in space.shape], indexing="ij"), axis=-1)
    return np.asarray(space.index_to_world(index.reshape(-1, 2))).reshape(*space.shape, 2)


def native_label_at(world: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The native label map's value at world points ``(..., 2)`` (the native pixel that holds each point; 0 outside)."""
    index = np.floor(np.asarray(NATIVE.world_to_index(world.reshape(-1, 2))) + 0.5).astype(np.int64).reshape(world.shape)
    inside = np.all((index >= 0) & (index < np.array(NATIVE.shape)), axis=-1)
    out = np.zeros(world.shape[:-1], dtype=np.int64)
    out[inside] = truth[index[inside][:, 0], index[inside][:, 1]]
    return out


def shares(space: Space, truth: np.ndarray, k: int = 3, sub: int = 8) -> np.ndarray:
    """Each class's share of every pixel's area on ``space`` ``(k, *shape)``, read from the native
    label map by ``sub x sub`` supersampling: what an ideal network's softmax would say."""
    offsets = (np.arange(sub) + 0.5) / sub - 0.5
    index = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float64) for n in space.shape], indexing="ij"), axis=-1)
    out = np.zeros((k, *space.shape))
    for di in offsets:
        for dj in offsets:
            world = np.asarray(space.index_to_world((index + [di, dj]).reshape(-1, 2))).reshape(*space.shape, 2)
            out += np.eye(k)[native_label_at(world, truth)].transpose(2, 0, 1)
    return out / sub**2


def working(spacing: float) -> tuple[dict[str, Any], Space]:
    """The sample dict after ``SpaceResampled`` to ``spacing`` mm, and the working Space."""
    image = MetaTensor(torch.zeros((1, *NATIVE.shape)), affine=torch.as_tensor(NATIVE.to_monai_affine()))
    data = SpaceResampled(keys="image", pixdim=spacing)({"image": image})
    return data, get_space(data["image"])


def back(data: dict[str, Any], pred: np.ndarray, **options: Any) -> np.ndarray:
    """``pred`` on the working grid mapped back to the native grid by ``SpaceInvertd(**options)``."""
    data = {**data, "pred": torch.as_tensor(pred)}
    return SpaceInvertd(keys="pred", orig_keys="image", **options)(data)["pred"].numpy()


def main(out: Path = HERE / "mapback_modes.png") -> dict[str, int]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    truth = classes_at(centres(NATIVE))
    fine_data, fine = working(FINE)
    coarse_data, coarse = working(COARSE)
    fine_hard = native_label_at(centres(fine), truth)[None].astype(np.uint8)  # the native label at each centre
    soft = shares(coarse, truth).astype(np.float32)
    coarse_hard = soft.argmax(0)[None].astype(np.uint8)

    results = {
        "nearest, finer grid": back(fine_data, fine_hard, mode="nearest")[0],
        "nearest, coarser grid": back(coarse_data, coarse_hard, mode="nearest")[0],
        "label, coarser grid": back(coarse_data, coarse_hard, mode="label")[0],
        "argmax, coarser grid": back(coarse_data, soft, argmax=True)[0],
    }
    wrong = {name: int((labels != truth).sum()) for name, labels in results.items()}
    bar_prob = back(coarse_data, soft[2:3], mode="linear")[0]
    bar_wrong = (bar_prob > 0.5) != (truth == 2)
    wrong["linear, coarser grid: bar channel > 0.5"] = int(bar_wrong.sum())

    def extent(space: Space) -> tuple[float, float, float, float]:
        (si, sj), (ni, nj) = space.spacing, space.shape
        return (-0.5 * sj, (nj - 0.5) * sj, (ni - 0.5) * si, -0.5 * si)

    def show(ax: Any, rgb: np.ndarray, space: Space, title: str, errors: np.ndarray | None = None) -> None:
        rgb = np.array(rgb, dtype=np.float64)
        if errors is not None:
            rgb[errors] = [0.90, 0.10, 0.10]
        ax.imshow(rgb, extent=extent(space), interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_xlim(*VIEW)
        ax.set_ylim(VIEW[1], VIEW[0])
        ax.set_xticks([])
        ax.set_yticks([])

    def colour(labels: np.ndarray) -> np.ndarray:
        return COLOURS[np.asarray(labels, dtype=np.int64)]

    def grey(prob: np.ndarray) -> np.ndarray:
        return np.repeat(np.clip(prob, 0, 1)[..., None], 3, axis=-1)

    fig = plt.figure(figsize=(16, 8.0), layout="constrained")
    fig.get_layout_engine().set(h_pad=0.12)  # type: ignore[union-attr]
    top, bottom = fig.subfigures(2, 1, hspace=0.02)
    top.suptitle("Inputs: the native label map, and what an ideal network predicts on each working grid", fontsize=12, weight="bold", x=0.01, ha="left")
    bottom.suptitle("Mapped back to the native 1 mm grid with SpaceInvertd (wrong pixels in red)", fontsize=12, weight="bold", x=0.01, ha="left")
    row1, row2 = top.subplots(1, 5), bottom.subplots(1, 5)
    show(row1[0], colour(truth), NATIVE, "native label map (1 mm):\nwhat should come back")
    show(row1[1], colour(fine_hard[0]), fine, f"finer working grid ({FINE} mm):\nhard labels")
    show(row1[2], colour(coarse_hard[0]), coarse, f"coarser working grid ({COARSE} mm):\nhard labels (argmax taken first)")
    show(row1[3], np.einsum("khw,kc->hwc", soft, COLOURS), coarse, "coarser grid: K = 3 class\nprobabilities (colours mixed)")
    show(row1[4], grey(soft[2]), coarse, "coarser grid: one channel,\nthe bar's probability")
    titles = {
        "nearest, finer grid": 'mode="nearest"\nfrom the finer grid',
        "nearest, coarser grid": 'mode="nearest"\nfrom the coarser grid',
        "label, coarser grid": 'mode="label"\nfrom the coarser grid',
        "argmax, coarser grid": "argmax=True from the probabilities\n(linear per class, then argmax)",
    }
    for ax, (name, labels) in zip(row2, results.items()):
        show(ax, colour(labels), NATIVE, f"{titles[name]}\n{wrong[name]} wrong pixels", errors=labels != truth)
    show(row2[4], grey(bar_prob), NATIVE, 'mode="linear": the bar\'s channel back\n'
         f'(float); > 0.5: {wrong["linear, coarser grid: bar channel > 0.5"]} wrong bar pixels', errors=bar_wrong)
    bottom.supxlabel("Colours: background (dark), disk (blue), 3 mm bar (yellow). Every panel shows the same 74 x 74 mm window of the "
             "96 x 96 mm field of view; working grids are drawn at their own pixel size.", fontsize=9, color="0.3", x=0.01, ha="left")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    for name, count in wrong.items():
        print(f"{name:36s} {count:5d} wrong pixels")
    return wrong


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "mapback_modes.png")
