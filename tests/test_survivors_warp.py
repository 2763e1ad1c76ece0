"""Tests that kill mutmut's survivors of ``monai_spacetx/engine/warp.py`` (``tests/mutation/run_mutmut.py``).

Each test names the mutants it kills. The oracles are outside the package: the brute-force nearest sample
from the raw affines (``tests/oracles.py``), and bytes, counts and messages worked out by hand.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import oracles

from monai_spacetx import Space
from monai_spacetx.engine import warp_image
from monai_spacetx.errors import SpaceError

SPACE = Space((6, 5, 4))


@pytest.mark.parametrize(
    "dtype, mode, itemsize",
    [(torch.int16, "nearest", 2), (torch.int16, "label", 2), (torch.int16, "linear", 4), (torch.uint8, "cubic", 4),
     (torch.bool, "nearest", 1), (torch.float64, "linear", 8), (torch.complex64, "linear", 8), (torch.float16, "cubic", 2)],
)
def test_the_memory_guard_counts_the_output_dtype(monkeypatch: pytest.MonkeyPatch, dtype: torch.dtype, mode: str, itemsize: int) -> None:
    """The guard is asked for the output's bytes: the input's item size where the output keeps the dtype
    (floating and complex input, nearest and label modes), 4 (float32) where integer or bool input is
    interpolated; batch x channels arrays at once. With 1 MiB free, a 108^3 target of 2 x 3 channels is refused
    with those numbers, by hand. Kills ``warp_image``'s ``check_grid`` argument mutants (``what``, channels,
    item size, the floating test, the mode names)."""
    from monai_spacetx.engine import limits

    monkeypatch.setattr(limits, "free_bytes", lambda device: 2**20)
    target = SPACE.resize((108, 108, 108))
    need = 1_259_712 * 6 * itemsize
    message = (rf"^target \(the grid to sample onto\) would have shape \(108, 108, 108\) = 1,259,712 voxels x 6 channel\(s\) "
               rf"x {itemsize} bytes = {need / 2**30:.3g} GiB, more than the 0\.000977 GiB free on cpu; use a coarser spacing or a smaller size$")
    with pytest.raises(SpaceError, match=message):
        warp_image(torch.zeros((2, 3, *SPACE.shape), dtype=dtype), SPACE, target, mode)


def test_cached_plans_are_per_shape_and_affine() -> None:
    """Recent plans are reused only for equal shapes and bit-equal affines: crops at the origin share the
    affine but not the shape, a source of another shape shares the affine, a shifted target shares the shape;
    each warp equals the brute-force nearest sample from its own raw affines, and a cached plan's matrix is
    read-only. Kills the cache key's mutants of ``_plan_for`` (a shape or an affine left out of the key)."""
    from monai_spacetx.engine.warp import _plan_for

    rng = np.random.default_rng(0)
    source = Space((7, 6), spacing=(1.3, 0.9), origin=(2.0, -1.0))
    other_source = Space((5, 8), spacing=(1.3, 0.9), origin=(2.0, -1.0))
    targets = [source.crop((0, 0), (3, 4)), source.crop((0, 0), (5, 6)), source.crop((1, 0), (4, 4)), source.respace(0.7)]
    for src in (source, other_source):
        image = rng.integers(0, 100, src.shape).astype(np.int32)
        for _ in range(2):  # the second time from the cache
            for target in targets:
                out = warp_image(image, src, target, "nearest", "zeros", -1)
                assert out.shape == target.shape
                np.testing.assert_array_equal(out, oracles.nearest(image, src.affine, target.affine, target.shape, -1, "zeros"))
    plan, _ = _plan_for(source, targets[0])
    assert not plan.matrix.flags.writeable
    with pytest.raises(ValueError):
        plan.matrix[0, 0] = 2.0


def test_the_plan_cache_keeps_the_64_most_recent(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache holds the 64 most recently used pairs: after 70 distinct targets it holds 64, the first six
    evicted, and a pair used again moves to the end (kept when older ones go). Counted by hand. Kills
    ``_plan_for``'s eviction mutants (``>=`` for ``>``, the newest evicted, the hit not moved to the end)."""
    from monai_spacetx.engine import warp as warp_module

    monkeypatch.setattr(warp_module, "_PLANS", type(warp_module._PLANS)(64))
    source = Space((4, 4))
    image = np.arange(16, dtype=np.float32).reshape(4, 4)
    targets = [source.resize((5 + k, 4)) for k in range(70)]
    for target in targets[:64]:
        warp_image(image, source, target, "nearest")
    warp_image(image, source, targets[0], "nearest")  # a hit: targets[0] becomes the most recent
    for target in targets[64:]:
        warp_image(image, source, target, "nearest")
    cache = warp_module._PLANS
    assert len(cache) == 64
    kept = {key[2] for key in cache}
    assert (5, 4) in kept  # targets[0], used again
    assert all((5 + k, 4) not in kept for k in range(1, 7))  # the six least recent
    assert all((5 + k, 4) in kept for k in range(7, 70))


def test_recent_plan_is_the_plan_warp_image_executes() -> None:
    """The public recent_plan: plan_warp's plan for the pair (the same kind and matrix), the same object
    again for equal grids (the cache warp_image reads), read only; a grid that is not a Space is refused."""
    from monai_spacetx.engine import plan_warp, recent_plan
    from monai_spacetx.errors import SpaceTypeError

    source = Space((7, 6, 5), spacing=(1.0, 1.5, 2.0))
    target = source.rotate((0.1, 0.0, 0.2)).respace(1.2)
    plan = recent_plan(source, target)
    reference = plan_warp(source, target)
    assert plan.kind == reference.kind == "general" and np.array_equal(plan.matrix, reference.matrix)
    assert recent_plan(Space.from_affine(source.affine.copy(), source.shape), Space.from_affine(target.affine.copy(), target.shape)) is plan
    assert not plan.matrix.flags.writeable
    with pytest.raises(SpaceTypeError):
        recent_plan(source, "target")  # type: ignore[arg-type]


def test_options_and_plan_of_the_wrong_type_are_refused_in_full() -> None:
    """Each refusal's whole message, by hand. Kills ``warp_image_20`` (the plan's message replaced) and the
    options' message mutants."""
    from monai_spacetx.errors import SpaceTypeError

    image = torch.zeros(SPACE.shape)
    with pytest.raises(SpaceTypeError, match=r"^plan must be a WarpPlan \(plan_warp\(source, target\)\) or None, got str$"):
        warp_image(image, SPACE, SPACE, plan="general")  # type: ignore[arg-type]
    with pytest.raises(SpaceTypeError, match=r"^options must be a WarpOptions \(WarpOptions\.parse\(\.\.\.\)\) or None, got dict$"):
        warp_image(image, SPACE, SPACE, options={"mode": "linear"})  # type: ignore[arg-type]


def test_area_mode_is_refused_on_a_rotation_in_full() -> None:
    """``"area"`` (block averaging) needs an axis-aligned resample: a rotated target is refused with the whole
    message, by hand; the same resize without the rotation runs. Kills ``_dispatch_10`` (``"GENERAL"``)."""
    from monai_spacetx.errors import ModeError

    image = torch.rand(SPACE.shape)
    with pytest.raises(ModeError, match=r"^mode 'area' \(block averaging, MONAI Resize's default\) needs an axis-aligned resample \(a resize, "
                                        r"zoom or respacing, with flips/permutations\); this one rotates the grid: use 'bilinear' with "
                                        r"anti_aliasing=True$"):
        warp_image(image, SPACE, SPACE.rotate((0.3, 0.0, 0.0)).resize((3, 3, 2)), "area")
    assert warp_image(image, SPACE, SPACE.resize((3, 5, 2)), "area").shape == (3, 5, 2)


class _Wrapped(torch.Tensor):
    """A tensor subclass with MONAI MetaTensor's ``as_tensor()`` (the plain tensor), without importing MONAI."""

    def as_tensor(self) -> torch.Tensor:
        return self.as_subclass(torch.Tensor)


def test_a_tensor_with_as_tensor_is_read_as_the_plain_tensor() -> None:
    """A MetaTensor-like input (``as_tensor()``) comes back as a plain ``torch.Tensor`` on every path, the identity's
    copy included, with the input's values (identity, crop: by hand; resize: the brute-force linear oracle).
    Kills ``_as_tensor_40`` (``getattr(None, "as_tensor")``: the subclass kept)."""
    space = Space((4, 3))
    values = torch.arange(12, dtype=torch.float64).reshape(4, 3)
    image = values.clone().as_subclass(_Wrapped)
    same = warp_image(image, space, space)
    crop = warp_image(image, space, space.crop((1, 0), (3, 2)), "nearest")
    resized = warp_image(image, space, space.resize((6, 5)))
    assert type(same) is torch.Tensor and type(crop) is torch.Tensor and type(resized) is torch.Tensor
    assert torch.equal(same, values) and torch.equal(crop, values[1:3, 0:2])
    expected = oracles.interpolate(values.numpy(), space.affine, space.resize((6, 5)).affine, (6, 5), 1, "zeros")
    np.testing.assert_allclose(resized.numpy(), expected, rtol=0, atol=1e-12)


def test_label_mode_refuses_non_integer_maps_in_full() -> None:
    """NaN, infinite and fractional values in a float image are refused in ``"label"`` mode with the whole
    message, by hand. Kills ``_check_integral_labels_5`` (the NaN message replaced) and the message mutants
    of the fractional case."""
    from monai_spacetx.errors import ModeError

    space = Space((3, 4))
    target = space.resize((5, 5))
    for bad in (float("nan"), float("inf"), -float("inf")):
        image = torch.zeros(space.shape)
        image[1, 2] = bad
        with pytest.raises(ModeError, match=r"^mode 'label' needs integer class values, got NaN or infinite values in a torch\.float32 image$"):
            warp_image(image, space, target, "label")
    halves = torch.tensor([[0.0, 0.5, 1.0, 1.5]] * 3, dtype=torch.float64)
    with pytest.raises(ModeError, match=r"^mode 'label' needs integer class values, got a torch\.float64 image with 4 distinct values "
                                        r"\(not all integers\); use mode 'linear' for intensities or probabilities$"):
        warp_image(halves, space, target, "label")


def test_the_defaults_are_linear_zeros_and_fill_0() -> None:
    """``warp_image(image, source, target)``: linear, ``"zeros"`` padding, fill 0. A one-voxel pad keeps the
    input inside (an integer shift: the copy) and is 0 outside; a half-voxel shift interpolates (by hand: the mean
    of neighbours) and is 0 where the centre leaves the field of view. Kills ``warp_image_5`` (default fill 1.0)."""
    space = Space((3, 4))
    image = torch.arange(12, dtype=torch.float64).reshape(3, 4) + 1.0
    padded = warp_image(image, space, space.pad(1))
    assert torch.equal(padded[1:-1, 1:-1], image)
    assert float(padded[0].abs().sum() + padded[-1].abs().sum() + padded[:, 0].abs().sum() + padded[:, -1].abs().sum()) == 0.0
    shifted = Space.from_affine(space.affine @ np.array([[1.0, 0, 0.5], [0, 1.0, 0], [0, 0, 1.0]]), (4, 4))  # rows at 0.5, 1.5, 2.5, 3.5
    out = warp_image(image, space, shifted)
    expected = torch.cat([(image[:-1] + image[1:]) / 2, image[-1:], torch.zeros(1, 4, dtype=torch.float64)])  # 2.5: clamped to row 2
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


def test_numpy_arrays_that_are_not_numbers_are_refused_in_full() -> None:
    """Strings, bytes and datetimes are no image: refused with our error naming the dtype, by hand (not torch's
    ``TypeError`` from ``from_numpy``). Kills ``_as_tensor_5`` (the dtype test run on ``None``: float64, so
    every dtype but object passed)."""
    from monai_spacetx.errors import SpaceTypeError

    space = Space((2, 3))
    for array in (np.full((2, 3), "a"), np.full((2, 3), b"a"), np.zeros((2, 3), dtype="datetime64[s]")):
        with pytest.raises(SpaceTypeError, match=rf"^image must have a numeric or bool dtype, got numpy dtype {re.escape(str(array.dtype))}$"):
            warp_image(array, space, space)
