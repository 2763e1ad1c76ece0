"""The documentation says what is true: the map-back page's counts, the API pages' coverage, the figures' labels.

- docs/mapback_modes.md quotes wrong-pixel counts for each map-back mode; they are recomputed
  here with an independent oracle (the index map from the two affines, scipy's
  ``map_coordinates`` per class, numpy argmax), not with the package's own resampler;
- every public name of the package appears on an API page (``.ci/run``'s Sphinx build also
  warns, as an error, for a name no page documents; this check runs without Sphinx);
- ``check --figure`` draws R/L/A/P letters only for a scan that has a patient orientation, and
  leaves room around the image so the working grid's box shows where it runs along the border.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


# ----------------------------------------------------------------------------- the map-back page
def _figure_script():
    spec = importlib.util.spec_from_file_location("make_mapback_figure", DOCS / "figures" / "make_mapback_figure.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _oracle_back(values: np.ndarray, working_affine: np.ndarray, native_affine: np.ndarray, native_shape: tuple[int, ...], order: int) -> np.ndarray:
    """``values`` ``(C, *working)`` sampled at every native pixel centre: the index map from the raw
    affines; outside the working field of view ([-0.5, n - 0.5] on each axis) 0; ``order`` 0 takes
    the pixel whose box holds the centre (a tie to the higher index), 1 bilinear with edge clamping."""
    from scipy.ndimage import map_coordinates

    index_map = np.linalg.inv(working_affine) @ native_affine
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float64) for n in native_shape], indexing="ij"), axis=0).reshape(len(native_shape), -1)
    coords = index_map[:2, :2] @ grid + index_map[:2, 2:3]
    shape = np.array(values.shape[1:])[:, None]
    inside = np.all((coords >= -0.5) & (coords <= shape - 0.5), axis=0)
    out = np.zeros((values.shape[0], grid.shape[1]))
    for c, channel in enumerate(values):
        if order == 0:
            nearest = np.clip(np.floor(coords + 0.5).astype(np.int64), 0, shape - 1)
            out[c] = channel[nearest[0], nearest[1]]
        else:
            out[c] = map_coordinates(channel.astype(np.float64), coords, order=1, mode="nearest")
    out[:, ~inside] = 0
    return out.reshape(values.shape[0], *native_shape)


def test_mapback_page_counts_are_what_an_independent_oracle_gives():
    fig = _figure_script()
    truth = fig.classes_at(fig.centres(fig.NATIVE))
    fine_data, fine = fig.working(fig.FINE)
    coarse_data, coarse = fig.working(fig.COARSE)
    fine_hard = fig.native_label_at(fig.centres(fine), truth)[None]
    soft = fig.shares(coarse, truth)
    coarse_hard = soft.argmax(0)[None]
    native = fig.NATIVE.affine

    def wrong(labels: np.ndarray) -> int:
        return int((labels != truth).sum())

    one_hot = np.eye(3)[coarse_hard[0]].transpose(2, 0, 1)
    oracle = {
        "nearest, finer": wrong(_oracle_back(fine_hard, fine.affine, native, truth.shape, 0)[0]),
        "nearest, coarser": wrong(_oracle_back(coarse_hard, coarse.affine, native, truth.shape, 0)[0]),
        "label, coarser": wrong(_oracle_back(one_hot, coarse.affine, native, truth.shape, 1).argmax(0)),
        "argmax, coarser": wrong(_oracle_back(soft, coarse.affine, native, truth.shape, 1).argmax(0)),
        "linear bar": int(((_oracle_back(soft[2:3], coarse.affine, native, truth.shape, 1)[0] > 0.5) != (truth == 2)).sum()),
    }
    page = (DOCS / "mapback_modes.md").read_text()
    table = page.split("| map back | from | wrong pixels (of 9216) |")[1].split("\n\n")[0]
    shown = [int(re.match(r"\d+", row.split("|")[3].strip()).group()) for row in table.strip().splitlines()[1:]]
    assert shown == list(oracle.values()), (shown, oracle)
    assert truth.size == 9216
    # the claims the page makes from them
    assert oracle["nearest, finer"] == 0
    assert oracle["argmax, coarser"] < oracle["label, coarser"] < oracle["nearest, coarser"]
    # and the figure script, which draws them with SpaceInvertd, prints the same counts
    counts = fig.main(Path(__import__("tempfile").mkdtemp()) / "modes.png")
    assert list(counts.values()) == list(oracle.values()), (counts, oracle)


# ----------------------------------------------------------------------------- the API pages
def test_every_public_name_is_on_an_api_page():
    import monai_spacetx
    import monai_spacetx.transforms

    pages = " ".join(path.read_text() for path in (DOCS / "api").glob("*.rst"))
    conf = (DOCS / "conf.py").read_text()
    assert ".. spacetx-transforms::" in (DOCS / "api" / "transforms.rst").read_text() and "monai_spacetx._TRANSFORMS" in conf
    documented = set(re.findall(r"\.\. auto(?:class|function|data|exception):: (?:[\w.]+\.)?(\w+)", pages))
    documented |= set(monai_spacetx._TRANSFORMS)  # the transforms page lists these when Sphinx reads it
    for module in re.findall(r"\.\. automodule:: ([\w.]+)\n((?:   :.*\n)*)", pages):
        name, options = module
        listed = re.search(r":members: *(.*)", options)
        if listed and listed.group(1).strip():
            documented |= {m.strip() for m in listed.group(1).split(",")}
        elif listed:
            documented |= set(getattr(importlib.import_module(name), "__all__", ()))
    public = set(monai_spacetx.__all__) | set(monai_spacetx.transforms.__all__)
    assert not public - documented, sorted(public - documented)


def test_the_docs_extra_and_ci_build_the_site():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^docs = \[.*"sphinx[>=]', pyproject, flags=re.M) and "myst-parser" in pyproject
    assert "python -m sphinx -W" in (ROOT / ".ci" / "run").read_text()
    index = (DOCS / "index.md").read_text()
    assert ":glob:" in index and "\n*\n" in index  # a page added to docs/ is in the site without an edit


# ----------------------------------------------------------------------------- check --figure
def _figure_axes(monkeypatch, argv: list[str]) -> list:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from monai_spacetx.cli import main

    seen, close = [], plt.close

    def keep_then_close(fig):
        seen.extend(fig.axes)
        close(fig)

    monkeypatch.setattr(plt, "close", keep_then_close)
    assert main(argv) == 0
    return seen


def _letters(ax) -> set[str]:
    return {t.get_text() for t in ax.texts} & set("RLAPSI")


@pytest.mark.parametrize("kind", ["png", "nifti"])
def test_check_figure_letters_only_with_an_orientation_and_the_box_on_the_border_shows(kind, tmp_path, monkeypatch, capsys):
    from PIL import Image

    disc = np.zeros((30, 40), np.uint8)
    yy, xx = np.mgrid[:30, :40]
    disc[(yy - 15) ** 2 + (xx - 20) ** 2 < 80] = 200
    if kind == "png":
        path = tmp_path / "slice.png"
        Image.fromarray(disc).save(path)
    else:
        path = tmp_path / "scan.nii.gz"
        nib.save(nib.Nifti1Image(np.repeat(disc[:, :, None], 6, axis=2).astype(np.float32), np.diag([-1.0, 1.0, 2.0, 1.0])), str(path))
    axes = _figure_axes(monkeypatch, ["check", str(path), "--spacing", "0.7", "--no-monai", "--quiet", "--figure", str(tmp_path / "f.png")])
    assert axes
    for ax in axes:
        image = ax.images[0].get_array()
        width, height = image.shape[1], image.shape[0]  # drawn transposed: x is index axis 0
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        assert x0 < -0.5 and x1 > width - 0.5 and y0 < -0.5 and y1 > height - 0.5  # the border box is inside the axes
        box = [c for c in ax.collections if c.get_label() == "working grid"]
        assert len(box) == 1
        corners = np.concatenate([p.vertices for p in box[0].get_paths()])
        assert corners[:, 0].min() == -0.5 and corners[:, 0].max() == width - 0.5  # the working grid covers the whole slice here
        if kind == "png":
            assert _letters(ax) == set()  # a picture has no R/L/A/P
        else:
            assert _letters(ax) == {"L", "R", "A", "P"}  # x: -1 on axis 0 -> L to the right... both pairs shown


def test_mapback_page_quotes_the_benchmark_and_check_figures_as_they_stand():
    """The 3-D numbers the map-back page repeats are the ones on the pages that measure them
    (docs/benchmarks.md's accuracy table, rerun by test_readme.py; docs/export.md's ``check --probabilities`` run)."""
    page = " ".join((DOCS / "mapback_modes.md").read_text().split())
    rows = {}
    for line in (DOCS / "benchmarks.md").read_text().splitlines():
        if line.startswith("| Spacingd to a coarser grid"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows["hard" if "hard labels" in cells[0] else "prob"] = [c.split(" / ")[0] for c in cells[1:]]
    monai_ideal, ours_ideal = rows["hard"][1], rows["hard"][2]
    linear = rows["prob"][2]
    assert f"{monai_ideal} wrong voxels with MONAI's `Invertd`, {ours_ideal} with `mode=\"label\"`, {linear} from probabilities" in page
    export = " ".join((DOCS / "export.md").read_text().split())
    label_first, through_probabilities = re.search(r"(\d+) native voxels inside the working grid come back wrong through probabilities against (\d+)", export).groups()[::-1]
    assert f"{label_first} wrong voxels with `mode=\"label\"`, {through_probabilities} through probabilities" in page
    assert f"{through_probabilities} wrong voxels inside the working grid against {label_first}" in page
