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
