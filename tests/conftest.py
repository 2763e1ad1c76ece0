"""Shared fixtures and hypothesis strategies: random oblique, anisotropic 2-D and 3-D spaces.

Keep this file small; put fixtures used by one test module in that module.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st

from monai_spacetx import Space


def random_direction(rng: np.random.Generator, ndim: int, reflect: bool | None = None) -> np.ndarray:
    """A random orthonormal ``(ndim, ndim)`` matrix; ``reflect`` forces det = -1 (True) or +1 (False)."""
    q, r = np.linalg.qr(rng.standard_normal((ndim, ndim)))
    q = q * np.sign(np.diag(r))
    if reflect is None:
        reflect = bool(rng.integers(2))
    if (np.linalg.det(q) < 0) != reflect:
        q[:, 0] = -q[:, 0]
    return q


def random_space(
    rng: np.random.Generator,
    ndim: int,
    *,
    shape_range: tuple[int, int] = (4, 40),
    spacing_range: tuple[float, float] = (0.3, 3.0),
    origin_scale: float = 500.0,
    reflect: bool | None = None,
) -> Space:
    """A random oblique, anisotropic Space (numpy Generator driven, for plain tests)."""
    shape = tuple(int(n) for n in rng.integers(shape_range[0], shape_range[1] + 1, size=ndim))
    spacing = rng.uniform(*spacing_range, size=ndim)
    origin = rng.uniform(-origin_scale, origin_scale, size=ndim)
    return Space(shape, spacing=spacing, origin=origin, direction=random_direction(rng, ndim, reflect))


@st.composite
def spaces(draw, ndim: int | None = None, max_size: int = 48, origin_scale: float = 1e5) -> Space:
    """Hypothesis strategy: oblique 2-D/3-D spaces incl. reflections, anisotropic spacing, large origins."""
    if ndim is None:
        ndim = draw(st.sampled_from([2, 3]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    shape = tuple(draw(st.lists(st.integers(2, max_size), min_size=ndim, max_size=ndim)))
    spacing = draw(st.lists(st.floats(0.05, 8.0), min_size=ndim, max_size=ndim))
    origin = draw(st.lists(st.floats(-origin_scale, origin_scale), min_size=ndim, max_size=ndim))
    # sometimes exactly axis-aligned (possibly flipped/permuted), mostly oblique
    if draw(st.booleans()) and draw(st.booleans()):
        direction = np.eye(ndim)[:, rng.permutation(ndim)] * rng.choice([-1.0, 1.0], size=ndim)
    else:
        direction = random_direction(rng, ndim, draw(st.booleans()))
    return Space(shape, spacing=spacing, origin=origin, direction=direction)


@pytest.fixture(params=[2, 3], ids=["2d", "3d"])
def oblique_space(request) -> Space:
    """An oblique, anisotropic space with a reflected direction and a large origin."""
    rng = np.random.default_rng(1234 + request.param)
    return random_space(rng, request.param, reflect=True, origin_scale=1e4)


@pytest.fixture
def warp_calls(monkeypatch):
    """Counts our engine's warps (every Space step and the sink execute through transforms/lazy.py) and MONAI's lazy resampler calls."""
    import monai.transforms.lazy.functional as monai_lazy

    import monai_spacetx.transforms.lazy as lazy_module

    calls = {"ours": 0, "monai": 0}
    ours, monai_resample = lazy_module.warp_image, monai_lazy.resample

    def counted_ours(*args, **kwargs):
        calls["ours"] += 1
        return ours(*args, **kwargs)

    def counted_monai(*args, **kwargs):
        calls["monai"] += 1
        return monai_resample(*args, **kwargs)

    monkeypatch.setattr(lazy_module, "warp_image", counted_ours)
    monkeypatch.setattr(monai_lazy, "resample", counted_monai)
    return calls
