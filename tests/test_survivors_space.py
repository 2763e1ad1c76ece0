"""Tests that kill mutmut's survivors of ``monai_spacetx/geometry/space.py`` (``tests/mutation/run_mutmut.py``).

Each test names the mutants it kills. The oracles are outside the package: affines and strings worked out by
hand, nibabel's ``affines`` helpers, MONAI's own transforms. Survivors shown equivalent are listed with their
reasons in ``tests/mutation/README.md``. Small grids: milliseconds.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from monai_spacetx import Space
from monai_spacetx.errors import SpaceError


def test_repr_prints_six_decimals() -> None:
    """``repr`` rounds to 6 decimals (written out by hand): kills ``__repr___10`` (numpy's default 8)."""
    space = Space((3, 4), spacing=(1.0 / 3.0, 2.0), origin=(0.123456789, -7.0))
    assert repr(space) == (
        "Space(shape=(3, 4), spacing=[0.333333, 2.      ], origin=[ 0.123457, -7.      ], "
        "direction=[[1., 0.], [0., 1.]])"
    )


def test_from_json_shows_text_of_exactly_200_characters_whole() -> None:
    """Invalid JSON of exactly 200 characters is shown whole, without ``...``; 201 characters are cut to 200
    and marked. Kills ``from_json_10`` (``<`` for ``<=``)."""
    text = "{" + "x" * 199
    assert len(text) == 200
    with pytest.raises(SpaceError) as info:
        Space.from_json(text)
    assert str(info.value).endswith("got " + repr(text))
    longer = text + "y"
    with pytest.raises(SpaceError) as info:
        Space.from_json(longer)
    assert str(info.value).endswith("got " + repr(text) + "...")
    assert re.search(r"not valid JSON", str(info.value))


def test_repr_shows_round_off_as_zero() -> None:
    """A quarter turn leaves ``cos(pi / 2) = 6.1e-17`` in the direction; ``repr`` prints it as 0 (written out by
    hand). Kills ``__repr___15`` (``suppress_small=False``: ``6.123234e-17``)."""
    turned = Space((5, 5)).rotate(np.pi / 2)
    assert turned.direction[0, 0] != 0.0  # the round-off is there
    assert repr(turned) == "Space(shape=(5, 5), spacing=[1., 1.], origin=[4., 0.], direction=[[ 0., -1.], [ 1.,  0.]])"


@pytest.mark.parametrize("shape", [(2**21, 2**21, 2**21), (2**62, 2, 1), (2**40, 2**23, 1)])
def test_a_grid_of_2_to_the_63_voxels_is_refused_by_its_count(shape: tuple[int, int, int]) -> None:
    """No int64 index reaches voxel ``2**63``: a shape of exactly that many voxels is refused, naming the count
    (by hand); one voxel fewer along an axis is a Space (nothing is allocated). Kills ``_init_5`` (``3**63``)."""
    with pytest.raises(SpaceError, match=r"^shape \(\d+, \d+, \d+\) has 9\.22e\+18 voxels, more than any array can index \(2\*\*63\)$"):
        Space(shape)
    smaller = (shape[0] - 1,) + shape[1:]
    assert Space(smaller).shape == smaller


def test_zoom_down_to_one_voxel_is_monais_zoom() -> None:
    """``floor(3 * 0.4) = floor(4 * 0.4) = 1``: a one-voxel grid is a valid zoom, with MONAI's
    ``Zoom(keep_size=False)`` shape and affine. Kills ``zoom_25`` (``new <= 1`` refused)."""
    import torch
    from monai.data import MetaTensor
    from monai.transforms import Zoom

    theirs = Zoom(zoom=0.4, keep_size=False)(MetaTensor(torch.zeros(1, 3, 4)))
    ours = Space((3, 4)).zoom(0.4)
    assert ours.shape == tuple(theirs.shape[1:]) == (1, 1)
    np.testing.assert_allclose(ours.to_monai_affine(), theirs.affine.numpy(), rtol=0, atol=1e-12)


def test_resize_centers_from_a_two_voxel_axis_is_monais_align_corners() -> None:
    """Two voxels along an axis are enough for ``align="centers"``: ``(2, 5) -> (4, 9)`` keeps the corner centres,
    spacings ``1/3`` and ``1/2``, as MONAI's ``Resize(align_corners=True)``. Kills ``_scaled_25`` (3 voxels needed)."""
    import torch
    from monai.data import MetaTensor
    from monai.transforms import Resize

    theirs = Resize((4, 9), mode="bilinear", align_corners=True)(MetaTensor(torch.zeros(1, 2, 5)))
    ours = Space((2, 5)).resize((4, 9), align="centers")
    np.testing.assert_allclose(ours.to_monai_affine(), theirs.affine.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.spacing, [1 / 3, 1 / 2], rtol=0, atol=1e-15)


def test_one_voxel_thick_grids_are_spaces() -> None:
    """A shape may hold 1 (a single slice, a line of voxels): the affine as given, by hand. Kills ``_shape_30``
    (``>= 2``)."""
    line = Space((1, 7), spacing=(2.0, 0.5), origin=(1.0, -1.0))
    assert line.shape == (1, 7)
    np.testing.assert_array_equal(line.affine, [[2.0, 0.0, 1.0], [0.0, 0.5, -1.0], [0.0, 0.0, 1.0]])
    assert Space.from_affine(np.eye(4), (1, 1, 1)).shape == (1, 1, 1)
