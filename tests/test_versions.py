"""What differs between the MONAI and torch versions the package supports (.ci/matrix runs them).

- MONAI 1.7 records its invertible intensity transforms (``NormalizeIntensity``: the statistics
  it used) on ``applied_operations``. Such a record leaves the grid alone, so the map-back must go
  through it; an unknown record that may move the grid must still be refused, never guessed.
- On a torch older than the declared floor the package's import fails on torch's missing
  attributes; the lazy import hook must show that cause, not "cannot import name".

The oracle of the map-back is the exactness rule (conventions §4, rule 5): a label sent to a finer
grid with ``nearest`` and mapped back with ``nearest`` is the original label, voxel for voxel.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import NormalizeIntensityd
from monai.utils import LazyAttr, TraceKeys

from monai_spacetx import SpaceInvertd, SpaceResampled
from monai_spacetx.errors import MetadataError


def _case() -> dict[str, MetaTensor]:
    """An oblique, anisotropic 3-D image and its two-class label on the same grid."""
    affine = np.eye(4)
    c, s = np.cos(0.4), np.sin(0.4)
    affine[:3, :3] = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ np.diag([1.3, 0.9, 2.2])
    affine[:3, 3] = (12.0, -30.0, 7.5)
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in (14, 12, 9)], indexing="ij"), -1)
    label = ((((grid - (6.5, 5.2, 4.1)) / (4.3, 3.6, 2.9)) ** 2).sum(-1) <= 1).astype(np.uint8)
    image = label * 200.0 + grid[..., 0] * 3.0
    meta_affine = torch.as_tensor(affine)
    return {
        "image": MetaTensor(torch.as_tensor(image[None], dtype=torch.float32), affine=meta_affine),
        "label": MetaTensor(torch.as_tensor(label[None]), affine=meta_affine),
    }


def _forward(data: dict[str, MetaTensor]) -> dict[str, MetaTensor]:
    # a working grid finer than the scan along every index axis: the nearest round trip is exact
    return SpaceResampled(keys=["image", "label"], pixdim=(0.8, 0.6, 1.5), mode=["bilinear", "nearest"])(data)


def _intensity_record(shape: tuple[int, ...]) -> dict[str, object]:
    """The record MONAI 1.7's NormalizeIntensity pushes (its class, its input size, the statistics it used)."""
    return {
        TraceKeys.CLASS_NAME: "NormalizeIntensity",
        TraceKeys.ID: 1,
        TraceKeys.ORIG_SIZE: shape,
        TraceKeys.EXTRA_INFO: {"sub": [torch.tensor(20.0)], "div": [torch.tensor(90.0)], "channel_wise": False, "nonzero": False},
        TraceKeys.TRACING: True,
    }


def test_an_intensity_record_leaves_the_map_back_exact() -> None:
    original = _case()
    data = _forward(_case())
    before = len(data["image"].applied_operations)
    data = NormalizeIntensityd(keys="image")(data)  # MONAI >= 1.7 records it; older MONAI does not
    if len(data["image"].applied_operations) == before:  # the record MONAI 1.7 writes, written by hand on older MONAI
        data["image"].applied_operations.append(_intensity_record(tuple(data["image"].shape[1:])))
    assert str(data["image"].applied_operations[-1][TraceKeys.CLASS_NAME]).startswith("NormalizeIntensity")
    back = SpaceInvertd(keys="label", orig_keys="image", mode="nearest")(data)["label"]
    assert tuple(back.shape) == tuple(original["label"].shape)
    assert torch.equal(back.as_tensor(), original["label"].as_tensor())
    np.testing.assert_allclose(back.affine.numpy(), original["label"].affine.numpy(), atol=1e-9)


@pytest.mark.parametrize(
    "record",
    [
        {TraceKeys.CLASS_NAME: "WarpOfMyOwn", TraceKeys.EXTRA_INFO: {"field": 1}},  # no MONAI transform of that name
        {TraceKeys.CLASS_NAME: "Resized", TraceKeys.EXTRA_INFO: {}},  # MONAI's, spatial, but not a record we read
        # an intensity transform's name on a record that moves the grid: not taken for one
        {TraceKeys.CLASS_NAME: "NormalizeIntensity", TraceKeys.EXTRA_INFO: {}, LazyAttr.AFFINE: torch.eye(4, dtype=torch.float64),
         LazyAttr.SHAPE: (20, 18, 14)},
    ],
    ids=["unknown-class", "spatial-monai-class", "intensity-name-with-a-grid-change"],
)
def test_a_record_that_may_move_the_grid_is_refused(record: dict[str, object]) -> None:
    data = _forward(_case())
    data["image"].applied_operations.append({TraceKeys.ID: 2, TraceKeys.ORIG_SIZE: tuple(data["image"].shape[1:]),
                                             TraceKeys.TRACING: True, **record})
    with pytest.raises(MetadataError, match=rf"cannot read the record of '{record[TraceKeys.CLASS_NAME]}'"):
        SpaceInvertd(keys="label", orig_keys="image", mode="nearest")(data)


def test_an_old_torch_names_the_missing_attribute_not_the_transform() -> None:
    # torch < 2.3 has no torch.uint16: taken away here, the import must say so
    code = "import torch\ndel torch.uint16\nfrom monai_spacetx import SpaceCropd\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: monai_spacetx.SpaceCropd could not be loaded: AttributeError: "), done.stderr
    assert "'uint16'" in last, done.stderr
