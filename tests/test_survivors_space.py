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


def test_a_planned_axis_of_2_to_the_62_voxels_is_refused() -> None:
    """A planned axis of ``2**62`` voxels is no float32 array's axis (numpy itself refuses to make one: more
    than its largest ``size * itemsize``), so planning refuses it by name, and a factor or spacing that plans
    ``1e300`` voxels too, instead of a wrapped int64 cast. Kills ``_planned_shape_10`` (``2**63``) and
    ``_planned_shape_5`` (no size check: the cast wraps)."""
    with pytest.raises(ValueError, match="array is too big"):
        np.empty(2**62, np.float32)
    with pytest.raises(SpaceError, match=r"^the planned shape \[4\.611686018427388e\+18, 1\.0\] is no array's shape"):
        Space((2, 1)).zoom((2.0**61, 1.0))
    with pytest.raises(SpaceError, match=r"^the planned shape \[2e\+300, 2e\+300\] is no array's shape \(a tiny spacing or factor, or a huge size\?\)$"):
        Space((2, 2)).zoom(1e300)
    with pytest.raises(SpaceError, match=r"^the planned shape \[(1e\+300|9\.9+e\+299), 1\.0\] is no array's shape"):  # (2 - 1) / 1e-300 + 1
        Space((2, 2)).respace((1e-300, 100.0), align="centers")
    assert Space((2, 1)).zoom((2.0**30, 1.0)).shape == (2**31, 1)  # large, but an array's shape


def test_an_affine_with_a_zero_column_is_refused_by_its_spacing() -> None:
    """A zero column is no voxel size: refused naming the column norms (by hand), not read as a grid. Kills
    ``_init_55`` (``spacing >= 0``: the zero column's NaN direction passed the degeneracy check)."""
    for affine, norms in ((np.diag([1.0, 0.0, 1.0]), r"\[1\.0, 0\.0\]"), (np.diag([0.0, 2.0, 3.0, 1.0]), r"\[0\.0, 2\.0, 3\.0\]")):
        with pytest.raises(SpaceError, match=rf"^spacing \(affine column norms\) must be positive, got {norms}$"):
            Space.from_affine(affine, (3,) * (len(affine) - 1))


def test_crop_world_checks_its_shape_and_spacing_by_name() -> None:
    """``crop_world``'s ``shape`` must have one entry per axis and its ``spacing`` be positive (a negative one
    would flip the box): each refused naming the argument and the value, by hand. Kills ``crop_world_35``
    (the shape read without its name and axis count) and ``crop_world_55`` (``positive=False``)."""
    space = Space((4, 4))
    with pytest.raises(SpaceError, match=r"^shape must be 2 integers, got \(4, 4, 4\)$"):
        space.crop_world((0, 0), (4, 4), shape=(4, 4, 4))
    with pytest.raises(SpaceError, match=r"^shape must be positive integers, got \(0, 4\)$"):
        space.crop_world((0, 0), (4, 4), shape=(0, 4))
    with pytest.raises(SpaceError, match=r"^spacing must be positive, got \(1\.0, -1\.0\)$"):
        space.crop_world((0, 0), (4, 4), spacing=(1.0, -1.0))


@pytest.mark.parametrize("order", [0, None, 2.0])
def test_permute_refuses_an_order_that_is_no_sequence(order: object) -> None:
    """A number or ``None`` is no axis order: our ``SpaceError`` naming it (by hand), not Python's ``TypeError``
    from ``list(0)``. Kills ``permute_5`` (``or`` for ``and``)."""
    with pytest.raises(SpaceError, match=rf"^order must be a permutation of \[0, 1, 2\], got {order!r}$"):
        Space((4, 5, 6)).permute(order)  # type: ignore[arg-type]


@pytest.mark.parametrize("shear", [-0.6, 0.6])
def test_respace_centers_of_a_grid_sheared_either_way_is_monais_spacing(shear: float) -> None:
    """A 2-D grid whose second axis leans back (``-0.6``): in the respaced (QR) frame no corner centre is lowest
    along both new axes, so voxel 0 goes where MONAI's ``compute_shape_offset`` falls back (the two grids'
    ``shape / 2`` points coincide); leaning forward (``0.6``) voxel 0 is the old corner 0. MONAI's ``Spacing``
    is the oracle for shape and affine. Kills ``_respace_sheared_85`` (``new * 2``) and ``_80`` (no fallback)."""
    import torch
    from monai.data import MetaTensor
    from monai.transforms import Spacing

    direction = np.array([[1.0, shear], [0.0, 0.8]])
    space = Space((7, 5), spacing=(1.5, 2.0), origin=(3.0, -2.0), direction=direction)
    ours = space.respace((0.7, 1.3), align="centers")
    image = MetaTensor(torch.zeros(1, 7, 5), affine=torch.as_tensor(space.to_monai_affine()))
    theirs = Spacing(pixdim=(0.7, 1.3), mode="nearest")(image)
    assert ours.shape == tuple(theirs.shape[1:])
    np.testing.assert_allclose(ours.to_monai_affine(), theirs.affine.numpy(), rtol=0, atol=1e-9)


def test_crop_world_refuses_spacing_and_shape_together_in_one_sentence() -> None:
    """Both ``spacing`` and ``shape`` given: the whole message, by hand. Kills ``crop_world_5`` (the message
    wrapped in ``XX``, which a search for the sentence inside it still found)."""
    with pytest.raises(SpaceError) as info:
        Space((4, 4)).crop_world((0, 0), (4, 4), spacing=1.0, shape=(4, 4))
    assert str(info.value) == "crop_world takes spacing or shape, not both"


def test_contains_stops_at_the_low_voxel_edges() -> None:
    """The field of view ends half a voxel below voxel 0 along each axis: index ``-0.5`` is in, ``-0.6`` and
    ``-1.0`` are out, in index and in world coordinates (world points from the raw affine by hand). Kills
    ``contains_42`` (the low edge at ``-1.5``)."""
    space = Space((4, 3), spacing=(2.0, 0.5), origin=(10.0, -1.0))
    index = np.array([[-0.5, 0.0], [-0.6, 0.0], [0.0, -1.0], [-1.0, -1.0], [3.5, 2.5], [0.0, -0.5]])
    expected = [True, False, False, False, True, True]
    assert space.contains(index, coords="index").tolist() == expected
    world = index * [2.0, 0.5] + [10.0, -1.0]
    assert space.contains(world).tolist() == expected


def test_equality_tolerance_is_1e_minus_6_in_the_affine() -> None:
    """Equal when every affine entry agrees to ``1e-6`` (``EQUALITY_ATOL``, the documented tolerance): origins
    ``1e-7`` or ``9e-7`` apart are the same grid, ``2e-6`` apart are not. Kills ``__eq___12`` (numpy's default
    ``atol=1e-8``)."""
    a = Space((4, 5), spacing=(1.0, 2.0), origin=(3.0, 4.0))
    for shift, equal in ((1e-7, True), (9e-7, True), (2e-6, False)):
        b = Space((4, 5), spacing=(1.0, 2.0), origin=(3.0 + shift, 4.0))
        assert (a == b) is equal and (b == a) is equal
    assert Space((4, 5), spacing=(1.0, 2.0 + 5e-7), origin=(3.0, 4.0)) == a


def test_from_dict_refuses_a_dict_without_its_shape() -> None:
    """A dict holding ``affine`` but no ``shape`` is refused by our ``SpaceTypeError`` naming it (by hand), not a
    bare ``KeyError``. Kills ``from_dict_2`` (``and`` for the first ``or``)."""
    from monai_spacetx.errors import SpaceTypeError

    data = {"affine": np.eye(3).tolist()}
    with pytest.raises(SpaceTypeError) as info:
        Space.from_dict(data)
    assert str(info.value) == f"expected a dict with 'shape' and 'affine', got {data!r}"


@pytest.mark.parametrize("before, after", [((-1, 0), (0, 0)), ((0, 0), (0, -2)), (-1, 3)])
def test_pad_refuses_a_negative_amount_on_either_side_alone(before: object, after: object) -> None:
    """One negative amount, before or after, is refused naming both (by hand). Kills ``pad_22`` (refused only
    when both sides are negative)."""
    b = np.broadcast_to(before, (2,)).tolist()
    a = np.broadcast_to(after, (2,)).tolist()
    with pytest.raises(SpaceError) as info:
        Space((10, 12)).pad(before, after)  # type: ignore[arg-type]
    assert str(info.value) == f"pad amounts must be >= 0, got before={b}, after={a}"
