"""Hypothesis property tests over every grid the package accepts and random chains of planning ops.

The grids (:func:`any_grids`): 2-D and 3-D, anisotropic (0.05 to 8 mm), flipped (reflections), axis-aligned
with permuted axes, rotated by tiny (1e-9 to 1e-4 rad), near-right and large angles, sheared (MONAI's
rotations of anisotropic scans, sheared sforms), origins up to 1e5 mm, one-voxel axes included where the
operation allows them. Every property is checked against an outside oracle: the raw affines (numpy),
nibabel's orientation codes, hand-derived rules.
"""

from __future__ import annotations

import itertools

import nibabel as nib
import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st



from monai_spacetx import Space, index_to_world, map_points, world_to_index

FAST = settings(max_examples=60, deadline=None)

ORIENT_CODES = {
    2: ["".join(p) for p in itertools.product("RL", "AP")] + ["".join(p) for p in itertools.product("AP", "RL")],
    3: [
        "".join(letters)
        for perm in itertools.permutations(["RL", "AP", "SI"])
        for letters in itertools.product(*perm)
    ],
}


def corners(shape) -> np.ndarray:
    """Index coordinates of the field-of-view corners (voxel edges at -0.5 and n - 0.5)."""
    return np.array(list(itertools.product(*[(-0.5, n - 0.5) for n in shape])))


def world_tol(space: Space) -> float:
    """~1e-9 relative to the size of the world coordinates involved."""
    return 1e-9 * (np.abs(space.origin).max() + float(np.max(space.spacing * np.array(space.shape))) + 1.0)


def _rotation(angles: list[float]) -> np.ndarray:
    """Rotation matrix from 1 (2-D) or 3 (3-D, x then y then z) angles, by hand."""
    if len(angles) == 1:
        c, s = np.cos(angles[0]), np.sin(angles[0])
        return np.array([[c, -s], [s, c]])
    out = np.eye(3)
    for axis, a in enumerate(angles):
        c, s = np.cos(a), np.sin(a)
        i, j = [k for k in range(3) if k != axis]
        r = np.eye(3)
        r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
        out = r @ out
    return out


@st.composite
def any_grids(draw, ndim: int | None = None, max_size: int = 40) -> Space:
    """Any grid the package accepts: see the module docstring."""
    nd = ndim if ndim is not None else draw(st.sampled_from([2, 3]))
    shape = tuple(draw(st.lists(st.integers(2, max_size), min_size=nd, max_size=nd)))
    spacing = np.array(draw(st.lists(st.floats(0.05, 8.0), min_size=nd, max_size=nd)))
    turn = draw(st.sampled_from(["none", "tiny", "right", "large"]))
    count = 1 if nd == 2 else 3
    if turn == "none":
        rotation = np.eye(nd)[:, draw(st.permutations(list(range(nd))))]
    elif turn == "tiny":
        rotation = _rotation([draw(st.floats(1e-9, 1e-4)) * draw(st.sampled_from([-1.0, 1.0])) for _ in range(count)])
    elif turn == "right":
        rotation = _rotation([draw(st.sampled_from([-1.0, 1.0, 2.0])) * np.pi / 2 + draw(st.floats(-1e-6, 1e-6)) for _ in range(count)])
    else:
        rotation = _rotation(draw(st.lists(st.floats(-np.pi, np.pi), min_size=count, max_size=count)))
    flips = np.diag(draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=nd, max_size=nd)))
    shear = np.eye(nd)
    if draw(st.booleans()):
        for i, j in itertools.combinations(range(nd), 2):
            shear[i, j] = draw(st.floats(-0.6, 0.6))
    affine = np.eye(nd + 1)
    affine[:nd, :nd] = rotation @ flips @ shear @ np.diag(spacing)
    affine[:nd, nd] = draw(st.lists(st.floats(-1e5, 1e5), min_size=nd, max_size=nd))
    return Space.from_affine(affine, shape)


def test_any_grids_draws_what_it_says():
    """The strategy's own claims, counted over a fixed sample: sheared, 2-D, flipped, anisotropic, tiny turns."""
    from hypothesis import find

    find(any_grids(), lambda s: not s.is_orthogonal)
    find(any_grids(), lambda s: s.ndim == 2 and np.linalg.det(s.affine[:2, :2]) < 0)
    find(any_grids(), lambda s: s.ndim == 3 and np.ptp(s.spacing) > 3.0)
    find(any_grids(), lambda s: s.is_orthogonal and 0 < np.abs(s.direction - np.round(s.direction)).max() < 1e-4)


@st.composite
def op(draw, space: Space):
    """One random planning op applicable to ``space``: returns (name, function)."""
    nd = space.ndim
    shape = np.array(space.shape)
    kind = draw(st.sampled_from(["crop", "pad", "resize", "zoom", "respace", "flip", "permute", "orient", "rotate"]))
    if kind == "crop":
        start = [draw(st.integers(-3, int(n) - 1)) for n in shape]
        end = [draw(st.integers(s + 1, int(n) + 3)) for s, n in zip(start, shape)]
        return kind, lambda s: s.crop(start, end)
    if kind == "pad":
        before = draw(st.lists(st.integers(0, 3), min_size=nd, max_size=nd))
        after = draw(st.lists(st.integers(0, 3), min_size=nd, max_size=nd))
        return kind, lambda s: s.pad(before, after)
    align = draw(st.sampled_from(["edges", "centers"])) if min(space.shape) >= 2 else "edges"
    if kind == "resize":
        new = draw(st.lists(st.integers(2, 40), min_size=nd, max_size=nd))
        return kind, lambda s: s.resize(new, align=align)
    if kind == "zoom":
        lo = float(np.max(2.0 / shape))  # keep at least 2 voxels for align="centers"
        factor = draw(st.lists(st.floats(max(0.5, lo), 2.0), min_size=nd, max_size=nd))
        return kind, lambda s: s.zoom(factor, align=align)
    if kind == "respace":
        ratio = draw(st.lists(st.floats(0.5, 2.0), min_size=nd, max_size=nd))
        return kind, lambda s: s.respace(s.spacing * np.array(ratio), align=align)
    if kind == "flip":
        axes = draw(st.lists(st.integers(0, nd - 1), max_size=nd, unique=True))
        return kind, lambda s: s.flip(axes)
    if kind == "permute":
        order = draw(st.permutations(list(range(nd))))
        return kind, lambda s: s.permute(order)
    if kind == "orient":
        codes = draw(st.sampled_from(ORIENT_CODES[nd]))
        return kind, lambda s: s.orient(codes)
    angles = draw(st.lists(st.floats(-np.pi, np.pi), min_size=1 if nd == 2 else 3, max_size=1 if nd == 2 else 3))
    return kind, lambda s: s.rotate(angles)


@st.composite
def chained(draw, max_ops: int = 5, slice_of_volume: bool = False):
    """(start space, end space, op names) after a random chain of planning ops.

    ``slice_of_volume``: the start is a 2-D slice read from MONAI's 4x4 affine with a random
    slice thickness and position (its third row and column).
    """
    start = draw(any_grids(ndim=2 if slice_of_volume else None))
    if slice_of_volume:
        monai_affine = start.to_monai_affine()
        monai_affine[2, 2] = draw(st.floats(0.1, 10.0)) * draw(st.sampled_from([-1.0, 1.0]))
        monai_affine[2, 3] = draw(st.floats(-1e4, 1e4))
        start = Space.from_affine(monai_affine, start.shape)
    current = start
    names = []
    for _ in range(draw(st.integers(0, max_ops))):
        name, fn = draw(op(current))
        current = fn(current)
        names.append(name)
        if max(current.shape) > 200:  # keep the grids small
            current = current.resize(np.minimum(current.shape, 64))
    return start, current, names


# --------------------------------------------------------------------- field of view


@FAST
@given(chained(), st.data())
def test_resize_keeps_field_of_view_edges(chain, data):
    _, space, _ = chain
    new = data.draw(st.lists(st.integers(1, 64), min_size=space.ndim, max_size=space.ndim))
    resized = space.resize(new)
    assert resized.shape == tuple(new)
    np.testing.assert_allclose(
        resized.index_to_world(corners(resized.shape)),
        space.index_to_world(corners(space.shape)),
        rtol=0,
        atol=world_tol(space),
    )
    np.testing.assert_allclose(resized.direction, space.direction, rtol=0, atol=1e-12)


@FAST
@given(chained(), st.data())
def test_resize_centers_keeps_corner_voxel_centres(chain, data):
    _, space, _ = chain
    assume(min(space.shape) >= 2)  # align="centers" needs two voxel centres per axis
    new = data.draw(st.lists(st.integers(2, 64), min_size=space.ndim, max_size=space.ndim))
    resized = space.resize(new, align="centers")
    last_old = np.array(list(itertools.product(*[(0, n - 1) for n in space.shape])), dtype=float)
    last_new = np.array(list(itertools.product(*[(0, n - 1) for n in resized.shape])), dtype=float)
    np.testing.assert_allclose(
        resized.index_to_world(last_new), space.index_to_world(last_old), rtol=0, atol=world_tol(space)
    )


@FAST
@given(chained(), st.lists(st.floats(0.05, 4.0), min_size=3, max_size=3))
def test_zoom_keeps_field_of_view_edges(chain, factor):
    _, space, _ = chain
    factor = factor[: space.ndim]
    assume(not np.any(np.floor(np.array(space.shape) * factor) < 1))  # a zoom must keep a voxel per axis
    zoomed = space.zoom(factor)
    assert zoomed.shape == tuple(int(v) for v in np.floor(np.array(space.shape) * np.array(factor)))  # MONAI Zoom's rule, unsnapped
    np.testing.assert_allclose(
        zoomed.index_to_world(corners(zoomed.shape)),
        space.index_to_world(corners(space.shape)),
        rtol=0,
        atol=world_tol(space),
    )


@FAST
@given(chained(), st.lists(st.floats(0.02, 10.0), min_size=3, max_size=3))
def test_respace_edges_follows_its_rounding_rule(chain, new_spacing):
    """n' = round(n s / s') (>= 1); the new field of view is centred on the old one. A sheared grid: the new
    grid is orthogonal in the QR frame of the affine (numpy's QR here), n' rounds the span of the old field
    of view's corners along each new axis, and the centres coincide."""
    _, space, _ = chain
    nd = space.ndim
    new_spacing = np.array(new_spacing[:nd])
    out = space.respace(new_spacing)
    if not space.is_orthogonal:
        q, r = np.linalg.qr(space.affine[:nd, :nd])
        q = q * np.sign(np.diag(r))  # the frame with a positive diagonal R: axis 0 keeps its direction
        edges = np.array(list(itertools.product(*[(-0.5, n - 0.5) for n in space.shape])))
        along = (q.T @ space.index_to_world(edges).T)  # (D, corners): the corners along the new axes, mm
        exact = np.ptp(along, axis=1) / new_spacing
        tie = np.abs(exact - np.floor(exact) - 0.5) < 1e-6
        assert out.is_orthogonal and np.all((np.array(out.shape) == np.maximum(np.round(exact), 1)) | tie)
        np.testing.assert_allclose(out.direction, q, rtol=0, atol=1e-9)
        np.testing.assert_allclose(out.spacing, new_spacing, rtol=1e-12)
        centre_old = space.index_to_world((np.array(space.shape) - 1) / 2.0)
        centre_new = out.index_to_world((np.array(out.shape) - 1) / 2.0)
        np.testing.assert_allclose(centre_new, centre_old, rtol=0, atol=world_tol(space) + world_tol(out))
        return
    n, s = np.array(space.shape), space.spacing
    expected = np.maximum(np.round(n * s / new_spacing), 1)
    exact = n * s / new_spacing
    tie = np.abs(exact - np.floor(exact) - 0.5) < 1e-6  # ties round to even; float noise may decide
    assert np.all((np.array(out.shape) == expected) | tie)
    np.testing.assert_allclose(out.spacing, new_spacing, rtol=1e-12)
    np.testing.assert_allclose(out.direction, space.direction, rtol=0, atol=1e-12)
    tol = world_tol(space) + world_tol(out)
    centre_old = space.index_to_world((n - 1) / 2.0)
    centre_new = out.index_to_world((np.array(out.shape) - 1) / 2.0)
    np.testing.assert_allclose(centre_new, centre_old, rtol=0, atol=tol)
    # each edge moves, along its own axis, by exactly |n s - n' s'| / 2 (<= s' / 2)
    low_old, low_new = space.index_to_world(-0.5 * np.ones(nd)), out.index_to_world(-0.5 * np.ones(nd))
    shift = np.linalg.solve(space.direction, low_new - low_old)  # along its own (not quite orthogonal within 1e-4) axes
    expected_shift = (n * s - np.array(out.shape) * new_spacing) / 2.0
    np.testing.assert_allclose(shift, expected_shift, rtol=0, atol=tol)
    assert np.all(np.abs(shift[np.array(out.shape) > 1]) <= new_spacing[np.array(out.shape) > 1] / 2 + tol)


@FAST
@given(chained(), st.lists(st.floats(0.05, 10.0), min_size=3, max_size=3))
def test_respace_centers_keeps_voxel_zero(chain, new_spacing):
    """n' = round((n - 1) s / s' + 1); voxel 0's centre stays put (MONAI Spacing's rule). A sheared grid:
    MONAI's Spacing itself is the oracle (its output affine and shape)."""
    _, space, _ = chain
    nd = space.ndim
    new_spacing = np.array(new_spacing[:nd])
    out = space.respace(new_spacing, align="centers")
    if not space.is_orthogonal:
        import torch
        from monai.data import MetaTensor
        from monai.transforms import Spacing

        assume(np.prod(out.shape) < 200_000)  # MONAI's Spacing allocates the grid
        # MONAI keeps an input spacing within its AFFINE_TOL (1e-3) of the target (the planning layer's rule,
        # tested in test_counterparts); Space.respace, the geometry alone, does not round
        assume(np.all(np.abs(space.spacing - new_spacing) > 1e-3))
        theirs = Spacing(pixdim=new_spacing.tolist(), mode="nearest")(MetaTensor(torch.zeros(1, *space.shape), affine=torch.as_tensor(space.to_monai_affine())))
        assert tuple(theirs.shape[1:]) == out.shape
        np.testing.assert_allclose(out.to_monai_affine(), theirs.affine.numpy(), rtol=0, atol=1e-6 * (1 + np.abs(space.origin).max()))
        return
    n, s = np.array(space.shape), space.spacing
    exact = (n - 1) * s / new_spacing + 1
    tie = np.abs(exact - np.floor(exact) - 0.5) < 1e-6
    assert np.all((np.array(out.shape) == np.round(exact)) | tie)
    np.testing.assert_allclose(out.origin, space.origin, rtol=0, atol=1e-12 * (1 + np.abs(space.origin).max()))
    # the last centre is within half a new voxel of the old last centre, along each axis
    last_old = space.index_to_world(n - 1.0)
    last_new = out.index_to_world(np.array(out.shape) - 1.0)
    along = np.linalg.solve(space.direction, last_new - last_old)
    assert np.all(np.abs(along) <= new_spacing / 2 + world_tol(space))


# --------------------------------------------------------------------- points


@FAST
@given(chained(), st.data())
def test_points_map_forward_and_back(chain, data):
    source, target, _ = chain
    nd = source.ndim
    pts = np.array(
        data.draw(
            st.lists(
                st.lists(st.floats(-5.0, 60.0), min_size=nd, max_size=nd), min_size=1, max_size=8
            )
        )
    )
    forward = map_points(pts, source, target)
    back = map_points(forward, target, source)
    np.testing.assert_allclose(back, pts, rtol=0, atol=1e-9)
    # and through world coordinates
    again = world_to_index(index_to_world(pts, source), source)
    np.testing.assert_allclose(again, pts, rtol=0, atol=1e-9)
    via_world = world_to_index(index_to_world(pts, source), target)
    scale = 1.0 + np.abs(forward).max()
    np.testing.assert_allclose(via_world, forward, rtol=0, atol=1e-9 * scale)


@FAST
@given(chained(), st.data())
def test_crop_then_pad_is_identity(chain, data):
    _, space, _ = chain
    shape = np.array(space.shape)
    start = np.array([data.draw(st.integers(0, int(n) - 1)) for n in shape])
    end = np.array([data.draw(st.integers(int(s) + 1, int(n))) for s, n in zip(start, shape)])
    cropped = space.crop(start, end)
    restored = cropped.pad(start, shape - end)
    assert restored == space
    np.testing.assert_allclose(restored.affine, space.affine, rtol=0, atol=world_tol(space))
    # and the other way round: pad, then crop the padding off
    before = np.array(data.draw(st.lists(st.integers(0, 4), min_size=space.ndim, max_size=space.ndim)))
    assert space.pad(before, before[::-1]).crop(before, before + shape) == space


@FAST
@given(chained(), st.data())
def test_orient_is_idempotent_and_matches_nibabel(chain, data):
    _, space, _ = chain
    codes = data.draw(st.sampled_from(ORIENT_CODES[space.ndim]))
    once = space.orient(codes)
    assert once.orient(codes) == once
    assert "".join(nib.aff2axcodes(once.affine)) == codes
    # reorienting only flips and permutes: the field of view and voxel centres are the same set
    low, high = space.bounds()
    low2, high2 = once.bounds()
    np.testing.assert_allclose(low2, low, rtol=0, atol=world_tol(space))
    np.testing.assert_allclose(high2, high, rtol=0, atol=world_tol(space))
    assert sorted(once.spacing.round(9)) == sorted(space.spacing.round(9))


@FAST
@given(chained(), st.data())
def test_rotate_keeps_spacing_and_centre(chain, data):
    _, space, _ = chain
    count = 1 if space.ndim == 2 else 3
    angles = data.draw(st.lists(st.floats(-np.pi, np.pi), min_size=count, max_size=count))
    rotated = space.rotate(angles)
    np.testing.assert_allclose(rotated.spacing, space.spacing, rtol=1e-12)
    assert rotated.shape == space.shape
    centre = (np.array(space.shape) - 1) / 2.0
    np.testing.assert_allclose(rotated.index_to_world(centre), space.index_to_world(centre), rtol=0, atol=world_tol(space))
    assert np.isclose(np.linalg.det(rotated.direction), np.linalg.det(space.direction))
    # about an explicit world centre: that point keeps its index
    point = space.index_to_world(np.array(space.shape) * 0.3)
    about = space.rotate(angles, center=point)
    # 1e-9 voxel, or float64 round-off of the world coordinates when they dwarf the voxels (origin 6.5e4 mm, 0.006 mm voxels)
    index_tol = max(1e-9, world_tol(space) / float(np.min(space.spacing)))
    np.testing.assert_allclose(about.world_to_index(point), space.world_to_index(point), rtol=0, atol=index_tol)


@FAST
@given(chained())
def test_serialisation_is_lossless_after_chains(chain):
    _, space, _ = chain
    for again in (Space.from_json(space.to_json()), Space.from_dict(space.to_dict())):
        assert np.array_equal(again.affine, space.affine) and again.shape == space.shape



@FAST
@given(chained(slice_of_volume=True))
def test_2d_slices_keep_their_thickness_and_position_through_any_chain(chain):
    start, end, _ = chain
    assert end.through_plane == start.through_plane
    np.testing.assert_array_equal(end.to_monai_affine()[2], start.to_monai_affine()[2])
    np.testing.assert_array_equal(end.to_monai_affine()[:, 2], start.to_monai_affine()[:, 2])
    np.testing.assert_array_equal(end.to_monai_affine()[np.ix_([0, 1, 3], [0, 1, 3])], end.affine)
    assert Space.from_json(end.to_json()).through_plane == start.through_plane
