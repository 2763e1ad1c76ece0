"""Tests that kill mutmut's survivors of ``monai_spacetx/engine/export.py`` (``tests/mutation/run_mutmut.py``).

Each test names the mutants it kills. The oracles are outside the package: values worked out by hand from
the module's stated rules (the certificate of its docstring, the smallest integer dtype), and the
brute-force resample-every-channel-then-argmax of ``tests/test_export.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from monai_spacetx import Space
from monai_spacetx.engine import compiled, plan_warp
from monai_spacetx.engine.options import WarpOptions


def test_torch_path_cell_codes_runners_up_and_certificate_by_hand() -> None:
    """The torch path's per-source-voxel arrays on a 4-voxel column of 3 classes, worked out by hand from the
    module docstring's rules. Voxels (class values): v0 (1.0, 0.0, -5), v1 (0.9, 0.2, -5), v2 (0.5, 0.8, -5),
    v3 (0.0, 0.3, 0.6): first maxima 0, 0, 1, 2. Cells at their lowest corner (the last pairs with itself):
    cell 0 = {v0, v1} pure class 0; cell 1 = {v1, v2} classes 0 < 1, whose runners-up are each other (the third
    values, -5, bound class 2) below max(min x0, min x1) = max(0.5, 0.2): certified, code K = 3, pair (0, 1);
    cell 2 = {v2, v3} classes 1 < 2, v2's runner-up class 0 is no candidate (bound 0.5), v3's is class 1 (its
    third, 0.0), max 0.5 is not below max(min x1, min x2) = max(0.3, -5): mixed, code K + 1 = 4; cell 3 pure class 2.
    Runners-up are kept at the corners of mixed cells only (v1, v2, v3; v0 keeps +inf and class -1).

    Kills ``_Pruned._runners_up`` 70 (``where[b0 : b0 - block]``: no runner-up kept), ``_Pruned._certify_cells``
    10 (``code == K + 2``: nothing certified), 20 (``cells[b0 : b0 - SCORE_BLOCK]``) and 70 (the
    smallest corner class never updated: a cell whose lower corner holds the larger class is not certified; the
    column reversed puts it there)."""
    from monai_spacetx.engine.export import _Pruned

    x = torch.tensor([[1.0, 0.9, 0.5, 0.0], [0.0, 0.2, 0.8, 0.3], [-5.0, -5.0, -5.0, 0.6]]).reshape(3, 4, 1)
    source = Space((4, 1))
    inf = math.inf
    cases = [  # (channels, first maxima, codes, certified cell, second, its class, third)
        (x, [0, 0, 1, 2], [0, 3, 4, 2], 1, [inf, 0.2, 0.5, 0.3], [-1, 1, 0, 1], [inf, -5.0, -5.0, 0.0]),
        # the column reversed: the certified cell's lower corner now holds the larger class (1, then 0)
        (x.flip(1), [2, 1, 0, 0], [4, 3, 0, 0], 1, [0.3, 0.5, 0.2, inf], [1, 0, 1, -1], [0.0, -5.0, -5.0, inf]),
    ]
    for channels, first, codes, cell, second, second_class, third in cases:
        with compiled.disabled():
            pruned = _Pruned(channels.contiguous(), plan_warp(source, source.resize((7, 1))), WarpOptions.parse("linear", "border"))
        assert not pruned.compiled
        assert pruned.first.tolist() == first
        assert pruned.code.view(-1).tolist() == codes
        assert (int(pruned.cell_low[cell]), int(pruned.cell_high[cell])) == (0, 1)
        np.testing.assert_array_equal(pruned.second.numpy(), np.float32(second))
        assert pruned.second_class.tolist() == second_class
        np.testing.assert_array_equal(pruned.third.numpy(), np.float32(third))


def test_label_dtype_boundaries_by_hand() -> None:
    """The smallest integer dtype holding ``0 .. K - 1`` and the fill label, at each dtype's edges, and the
    refusal past int64 in full. Kills ``label_dtype``'s bound mutants (``<`` for ``<=``, the fill or the
    class count dropped or shifted) and its message's."""
    from monai_spacetx.engine.export import label_dtype
    from monai_spacetx.errors import ModeError

    cases = [
        (2, 0, torch.uint8), (256, 0, torch.uint8), (257, 0, torch.int16), (2, 255, torch.uint8), (2, 256, torch.int16),
        (2, -1, torch.int16), (2, -(2**15), torch.int16), (2, -(2**15) - 1, torch.int32), (2**15, 0, torch.int16),
        (2**15 + 1, 0, torch.int32), (2, 2**31 - 1, torch.int32), (2, 2**31, torch.int64), (2, -(2**31), torch.int32),
        (2, -(2**31) - 1, torch.int64), (2, 2**63 - 1, torch.int64),
    ]
    for classes, fill, dtype in cases:
        assert label_dtype(classes, fill) == dtype, (classes, fill)
    assert label_dtype(300) == torch.int16  # fill defaults to 0
    with pytest.raises(ModeError, match=r"^fill label 1e\+19 does not fit in int64$"):
        label_dtype(2, 1e19)


def test_warp_argmax_refusals_in_full() -> None:
    """Each refusal's whole message (a mutated string passes a ``match`` on a fragment). Kills the message and
    check mutants of ``warp_argmax`` (the tensor type, complex and bool dtypes, the mode, a fractional fill, the
    shape, zero channels)."""
    from monai_spacetx.engine.export import warp_argmax
    from monai_spacetx.errors import ModeError, ShapeMismatchError, SpaceTypeError

    space = Space((4, 4))
    x = torch.rand(3, 4, 4)
    with pytest.raises(SpaceTypeError, match=r"^image must be a torch\.Tensor \(K, \*spatial\), got ndarray$"):
        warp_argmax(x.numpy(), space, space)  # type: ignore[arg-type]
    for dtype in (torch.complex64, torch.bool):
        with pytest.raises(SpaceTypeError, match=rf"^argmax needs real-valued probabilities or logits, got dtype {dtype}$"):
            warp_argmax(torch.zeros((3, 4, 4), dtype=dtype), space, space)
    for mode in ("nearest", "label"):
        with pytest.raises(ModeError, match=r"^argmax=True interpolates every channel and needs mode 'linear' \(or 'bilinear', 'cubic'\), "
                                            rf"got mode '{mode}': for a nearest export warp the argmax instead, mode 'label' is for label maps$"):
            warp_argmax(x, space, space, WarpOptions.parse(mode))
    with pytest.raises(ModeError, match=r"^fill is the fill label with argmax=True and must be a whole number, got 0\.5$"):
        warp_argmax(x, space, space, WarpOptions.parse("linear", "zeros", 0.5))
    for bad in (torch.rand(4, 4), torch.rand(0, 4, 4), torch.rand(3, 4, 5), torch.rand(1, 3, 4, 4)):
        with pytest.raises(ShapeMismatchError, match=rf"^argmax needs \(K, \*spatial\) channels on the source grid \(4, 4\), "
                                                    rf"got shape {re_tuple(tuple(bad.shape))}$"):
            warp_argmax(bad, space, space)


def re_tuple(shape: tuple[int, ...]) -> str:
    """``str(shape)`` escaped for a regular expression."""
    return str(shape).replace("(", r"\(").replace(")", r"\)")


@pytest.mark.parametrize("path", ["compiled", "torch"])
def test_one_channel_and_the_probability_dtype_by_hand(path: str) -> None:
    """``K = 1`` is accepted: every voxel inside is class 0 and its probability is the channel interpolated,
    by hand: values 1 and 3 on a 2-voxel column resized to 4 voxels sit at source indices -0.25, 0.25, 0.75, 1.25,
    clamped (border): 1, 1.5, 2.5, 3. ``prob`` is float64 for float64 channels, float32 for float32 and float16;
    with ``"zeros"`` padding a voxel outside is the fill label 7 with probability 0. Kills ``warp_argmax``'s
    ``x.shape[0] < 1`` mutants (``<= 1``, ``< 2``) and the probability dtype's (``and False``, dtype dropped)."""
    from monai_spacetx.engine.export import warp_argmax

    source = Space((2, 1))
    target = source.resize((4, 1))
    for dtype, prob_dtype in ((torch.float64, torch.float64), (torch.float32, torch.float32), (torch.float16, torch.float32)):
        x = torch.tensor([[[1.0], [3.0]]], dtype=dtype)
        with compiled.disabled() if path == "torch" else _nothing():
            labels, prob = warp_argmax(x, source, target, WarpOptions.parse("linear", "border"), keep_prob=True)
            padded, padded_prob = warp_argmax(x, source, source.pad((1, 0)), WarpOptions.parse("linear", "zeros", 7), keep_prob=True)
        assert labels.dtype == torch.uint8 and labels.view(-1).tolist() == [0, 0, 0, 0]
        assert prob is not None and prob.dtype == prob_dtype
        assert prob.view(-1).tolist() == [1.0, 1.5, 2.5, 3.0]
        assert padded.view(-1).tolist() == [7, 0, 0, 7]
        assert padded_prob is not None and padded_prob.dtype == prob_dtype and padded_prob.view(-1).tolist() == [0.0, 1.0, 3.0, 0.0]


def _nothing():
    import contextlib

    return contextlib.nullcontext()


@pytest.mark.parametrize("path", ["compiled", "torch"])
def test_float64_probabilities_keep_float64_precision(path: str) -> None:
    """Two float64 channels on a 2-voxel column resized to 4 voxels (border): source indices 0, 1/4, 3/4, 1
    after clamping, so channel 0 (0.1, 0.3) reads 0.1, 0.15, 0.25, 0.3 and channel 1 (0.2, 0.15) reads 0.2,
    0.1875, 0.1625, 0.15: classes 1, 1, 0, 0, each value to float64 precision (float32 is 1e-9 off).
    Kills ``_Pruned.run_80`` (the winning values accumulated in float32)."""
    from monai_spacetx.engine.export import warp_argmax

    source = Space((2, 1))
    x = torch.tensor([[[0.1], [0.3]], [[0.2], [0.15]]], dtype=torch.float64)
    with compiled.disabled() if path == "torch" else _nothing():
        labels, prob = warp_argmax(x, source, source.resize((4, 1)), WarpOptions.parse("linear", "border"), keep_prob=True)
    assert labels.view(-1).tolist() == [1, 1, 0, 0]
    assert prob is not None and prob.dtype == torch.float64
    expected = np.array([0.2, 0.75 * 0.2 + 0.25 * 0.15, 0.25 * 0.1 + 0.75 * 0.3, 0.3])
    np.testing.assert_allclose(prob.view(-1).numpy(), expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("path", ["compiled", "torch"])
def test_an_uncertified_two_class_tie_goes_to_the_smaller_class(path: str) -> None:
    """Two voxels, first maxima class 1 (1.0, v0) and class 2 (1.0, v1), class 0 at 0.3 in both: the cell is
    not certified (class 0's bound 0.3 is not below max(min x1, min x2) = 0), but halfway (target voxel 1 of
    3) classes 1 and 2 tie exactly at 0.5, above that bound, so the voxel compares its two corner classes only:
    by hand, the tie goes to class 1 with value 0.5; the ends are classes 1 and 2. Kills ``_Pruned._score_45``
    (``>=``: the tie to the larger class)."""
    from monai_spacetx.engine.export import warp_argmax

    source = Space((2, 1))
    x = torch.tensor([[[0.3], [0.3]], [[1.0], [0.0]], [[0.0], [1.0]]], dtype=torch.float32)
    with compiled.disabled() if path == "torch" else _nothing():
        labels, prob = warp_argmax(x, source, source.resize((3, 1)), WarpOptions.parse("linear", "border"), keep_prob=True)
    assert labels.view(-1).tolist() == [1, 1, 2]
    assert prob is not None and prob.view(-1).tolist() == [1.0, 0.5, 1.0]
