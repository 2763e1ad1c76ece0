"""Tests written to kill the mutants mutmut left alive in ``transforms/sink.py`` (tests/mutation/run_mutmut.py).

Each test names the mutants it kills (``sink_<class>_<method>_<n>``: mutmut's ``xǁ<class>ǁ<method>__mutmut_<n>``) and
checks against an outside oracle: brute-force nearest / linear samples from the raw affines (``oracles.py``), MONAI's
own eager transform for the grid, landmarks and boxes moved by hand or by numpy from the raw affines, and
MONAI's resampler counted (never called).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, Flip, Flipd, Rotated, Spacing, Spacingd

import oracles
from monai_spacetx import SpaceApplyPending, SpaceApplyPendingd

SHAPE = (10, 12, 8)


def _affine() -> np.ndarray:
    """Oblique, anisotropic, far from the origin: a map read wrong shows."""
    c, s = np.cos(0.35), np.sin(0.35)
    affine = np.eye(4)
    affine[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ np.diag([1.1, 0.8, 1.6])
    affine[:3, 3] = (-30.0, 14.0, 120.0)
    return affine


def _image(seed: int = 0, label: bool = False) -> MetaTensor:
    grid = np.indices(SHAPE).astype(np.float64)
    if label:
        values = torch.as_tensor((np.floor(grid[0] / 3) + 2 * (grid[1] > 5)).astype(np.uint8) % 4)
    else:
        values = torch.as_tensor(sum(np.sin(0.5 * g + k + seed) for k, g in enumerate(grid)) + 0.03 * grid[0] ** 2, dtype=torch.float32)
    affine = torch.as_tensor(_affine())
    return MetaTensor(values[None], affine=affine.clone(), meta={"original_affine": affine.clone(), "spatial_shape": np.array(SHAPE)})


def _interior(source: MetaTensor, target: MetaTensor) -> np.ndarray:
    """Target voxels whose centre lies inside the source's voxel centres (no padding involved)."""
    x = oracles.source_coordinates(source.affine, target.affine, target.shape[1:])
    return np.all((x >= 0) & (x <= np.array(SHAPE)[:, None] - 1), axis=0).reshape(target.shape[1:])


def _assert_linear(out: MetaTensor, source: MetaTensor) -> None:
    """``out`` is the brute-force linear sample of ``source`` (not the nearest one) where no padding is involved."""
    data = source[0].numpy()
    inside = _interior(source, out)
    assert inside.mean() > 0.5
    linear = oracles.interpolate(data, source.affine, out.affine, out.shape[1:], 1)
    np.testing.assert_allclose(out[0].numpy()[inside], linear[inside], rtol=0, atol=2e-5)
    nearest = oracles.nearest(data, source.affine, out.affine, out.shape[1:])
    assert np.abs(out[0].numpy()[inside] - nearest[inside]).max() > 0.05


def test_the_array_sink_without_a_mode_keeps_the_recorded_bilinear():
    """sink_SpaceApplyPending___call___3, _6 (``override`` not passed: the sink's own ``nearest`` placeholder
    overrides the recorded mode), sink_SpaceApplyPending___init___21 (``override = None``, the same): a pending
    ``Spacing(mode="bilinear")`` executed by ``SpaceApplyPending()`` is the brute-force linear sample."""
    source = _image()
    pending = Spacing(pixdim=(0.7, 0.9, 1.1), mode="bilinear")(_image(), lazy=True)
    eager = Spacing(pixdim=(0.7, 0.9, 1.1), mode="bilinear")(_image())
    out = SpaceApplyPending()(pending)
    np.testing.assert_allclose(out.affine.numpy(), eager.affine.numpy(), rtol=0, atol=1e-9)
    assert tuple(out.shape) == tuple(eager.shape)
    _assert_linear(out, source)


def test_the_sinks_are_lazy_so_a_compose_of_each_transforms_own_lazy_leaves_them_the_pending_work(warp_calls):
    """sink_SpaceApplyPending___init___5, _7, _8 and sink_SpaceApplyPendingd___init___* (``lazy`` None, False or left
    out): under ``Compose(lazy=None)`` each transform's own ``lazy`` decides (MONAI's ``apply_pending_transforms_in_order``);
    a sink that is not lazy has MONAI's resampler execute the pending ``Spacing`` first. Ours must: MONAI's
    resampler is never called, and the values are the brute-force linear sample."""
    assert SpaceApplyPending().lazy is True and SpaceApplyPendingd("image").lazy is True
    source = _image()
    out = Compose([Spacing(pixdim=(0.7, 0.9, 1.1), mode="bilinear", lazy=True), SpaceApplyPending()], lazy=None)(_image())
    assert warp_calls == {"ours": 1, "monai": 0}
    _assert_linear(out, source)
    warp_calls["ours"] = 0
    data = {"image": _image(), "label": _image(label=True)}
    chain = Compose([Spacingd(["image", "label"], pixdim=(0.7, 0.9, 1.1), mode=("bilinear", "nearest"), lazy=True),
                     SpaceApplyPendingd(["image", "label"])], lazy=None)
    out = chain(data)
    assert warp_calls == {"ours": 2, "monai": 0}
    _assert_linear(out["image"], source)
    label = _image(label=True)
    expected = oracles.nearest(label[0].numpy(), label.affine, out["label"].affine, out["label"].shape[1:])
    assert out["label"].dtype == torch.uint8 and oracles.wrong(out["label"][0], expected) == 0


def _moved_by_hand(points: np.ndarray, source_affine: np.ndarray, target_affine: np.ndarray) -> np.ndarray:
    """Index points of the source grid as index points of the target grid, through world: numpy on the raw affines."""
    homogeneous = np.concatenate([points, np.ones((len(points), 1))], axis=1)
    return (np.linalg.solve(target_affine, source_affine @ homogeneous.T).T)[:, :3]


POINTS = np.array([[1.0, 2.0, 3.0], [8.5, 10.0, 0.25], [4.0, 6.0, 7.0], [9.4, 0.0, 0.0]])


def test_landmarks_move_with_the_first_key_that_has_pending_work():
    """sink_SpaceApplyPendingd___call___4, _5, _6 (``carried`` false for point keys alone: the landmarks stay
    where they were), _11 (``or``: a later key's pending grid replaces the first one's).

    ``a`` is flipped along axis 0 and ``b`` rotated, both pending: the landmarks (native voxel indices) move
    to ``a``'s executed grid, by hand for the flip (``x -> 9 - x``) and by numpy on the raw affines; the
    flags say which lie inside it (``-0.5 <= x <= n - 0.5``)."""
    data = {"a": _image(), "b": _image(seed=1), "pts": POINTS.copy()}
    pending = Rotated("b", angle=(0.3, 0.0, 0.0), mode="bilinear", padding_mode="zeros")(Flipd("a", spatial_axis=0)(data, lazy=True), lazy=True)
    out = SpaceApplyPendingd(["a", "b"], point_keys="pts")(pending)
    flipped = POINTS.copy()
    flipped[:, 0] = 9 - POINTS[:, 0]
    np.testing.assert_allclose(out["pts"], flipped, rtol=0, atol=1e-9)
    np.testing.assert_allclose(out["pts"], _moved_by_hand(POINTS, _affine(), out["a"].affine.numpy()), rtol=0, atol=1e-9)
    assert out["pts_in_grid"].tolist() == [True, True, True, True]
    eager = Flip(spatial_axis=0)(_image())
    assert torch.equal(out["a"].as_tensor(), eager.as_tensor())


def test_landmarks_skip_a_first_key_with_nothing_pending():
    """sink_SpaceApplyPendingd___call___* (the ``pending_operations`` test of the first key): ``a`` has nothing
    pending, ``b`` a pending flip along axis 1: the landmarks move with ``b`` (``y -> 11 - y``, by hand), and a
    landmark beyond ``b``'s grid is flagged outside."""
    points = np.vstack([POINTS, [[0.0, -3.0, 0.0]]])
    data = Flipd("b", spatial_axis=1)({"a": _image(), "b": _image(seed=1), "pts": points.copy()}, lazy=True)
    assert not data["a"].pending_operations and data["b"].pending_operations
    out = SpaceApplyPendingd(["a", "b"], point_keys="pts")(data)
    expected = points.copy()
    expected[:, 1] = 11 - points[:, 1]
    np.testing.assert_allclose(out["pts"], expected, rtol=0, atol=1e-9)
    assert out["pts_in_grid"].tolist() == [True, True, True, True, False]  # y = 14 > 11.5


def test_boxes_alone_move_with_the_sink_in_monais_default_corner_mode():
    """sink_SpaceApplyPendingd___call___6 (``point_keys and box_keys``: boxes alone never move), and the box
    defaults (``box_mode`` None: MONAI's ``xyzxyz`` corners; ``box_format="boxes"``). By hand: a flip of the 10
    voxels of axis 0 sends the edges ``[a, b)`` of a box (voxel ``i`` spans ``[i, i + 1)``) to ``[10 - b, 10 - a)``."""
    data = Flipd("image", spatial_axis=0)({"image": _image(), "box": np.array([[1.0, 2.0, 0.0, 4.0, 5.0, 3.0]])}, lazy=True)
    out = SpaceApplyPendingd("image", box_keys="box")(data)
    np.testing.assert_allclose(np.asarray(out["box"]), [[6.0, 2.0, 0.0, 9.0, 5.0, 3.0]], rtol=0, atol=1e-9)
    assert np.asarray(out["box_in_grid"]).tolist() == [True]


def test_the_dict_sinks_options_reach_each_key():
    """sink_SpaceApplyPendingd___call___20 (each key's options dropped: the defaults, zeros padding, execute it)
    and the per-key reading of ``mode`` / ``padding_mode`` / ``fill``: a pending rotation (its corners read
    outside the scan; recorded with ``border``, no constant: the sink's padding decides), executed with ``border`` padding for the image and ``zeros`` with fill 7 for the label,
    the label's mode overridden to ``nearest`` and the image's recorded ``bilinear`` kept. Oracles: brute-force
    linear with clamped taps, brute-force nearest with the fill outside ``[-0.5, n - 0.5]``."""
    keys = ["image", "label"]
    data = {"image": _image(), "label": _image(label=True)}
    pending = Rotated(keys, angle=(0.4, 0.0, 0.0), mode=("bilinear", "bilinear"), padding_mode="border")(data, lazy=True)
    out = SpaceApplyPendingd(keys, mode=[None, "nearest"], padding_mode=("border", "zeros"), fill=[0.0, 7.0])(pending)
    image, label = _image(), _image(label=True)
    target = out["image"]
    linear = oracles.interpolate(image[0].numpy(), image.affine, target.affine, target.shape[1:], 1, "border")
    np.testing.assert_allclose(target[0].numpy(), linear, rtol=0, atol=2e-5)
    nearest = oracles.nearest(label[0].numpy(), label.affine, out["label"].affine, out["label"].shape[1:], fill=7)
    assert (nearest == 7).sum() > 10  # the rotation's corners leave the scan
    assert out["label"].dtype == torch.uint8 and oracles.wrong(out["label"][0], nearest) == 0


@pytest.mark.parametrize("shape", [(10, 12), (1, 1, 10, 12, 8)])
def test_a_pending_image_of_the_wrong_rank_is_refused_naming_its_key(shape):
    """sink_SpaceApplyPendingd___call___21 (the key not passed on: the message loses it): MONAI's lazy ``Flipd``
    pends on any rank; our engine takes ``(C, H, W)`` and ``(C, H, W, D)`` only and names the key."""
    from monai_spacetx import ShapeMismatchError

    data = Flipd("scan", spatial_axis=0)({"scan": MetaTensor(torch.rand(*shape))}, lazy=True)
    assert data["scan"].pending_operations
    with pytest.raises(ShapeMismatchError, match=r"^image \(key 'scan'\) must be channel-first .*got shape " + re.escape(str(tuple(shape)))):
        SpaceApplyPendingd("scan")(data)


def test_the_sinks_default_padding_is_zeros_with_a_zero_fill():
    """sink_SpaceApplyPending___init___3 and sink_SpaceApplyPendingd___init___3 (default ``fill`` 1.0): a pending
    rotation recorded with ``border`` padding (no constant of its own) executed by the sinks' defaults is the
    brute-force linear sample with zeros padding: 0 where the taps leave the scan (160 voxels here)."""
    source = _image()
    pending = Rotated("image", angle=(0.4, 0.0, 0.0), mode="bilinear", padding_mode="border")({"image": _image()}, lazy=True)
    for out in (SpaceApplyPending()(pending["image"]), SpaceApplyPendingd("image")(dict(pending))["image"]):
        expected = oracles.interpolate(source[0].numpy(), source.affine, out.affine, out.shape[1:], 1, "zeros", 0.0)
        assert (expected == 0).sum() > 100
        np.testing.assert_allclose(out[0].numpy(), expected, rtol=0, atol=2e-5)


def test_a_missing_key_is_refused_unless_allowed():
    """sink_SpaceApplyPendingd___init___4 (``allow_missing_keys`` default True): MONAI's default refuses a missing
    key with a ``KeyError`` naming the key and the transform; allowed, the present keys are executed."""
    data = Flipd("image", spatial_axis=0)({"image": _image()}, lazy=True)
    with pytest.raises(KeyError, match=r"Key `label` of transform `SpaceApplyPendingd` was missing"):
        SpaceApplyPendingd(["image", "label"])(dict(data))
    out = SpaceApplyPendingd(["image", "label"], allow_missing_keys=True)(dict(data))
    assert "label" not in out and torch.equal(out["image"].as_tensor(), Flip(spatial_axis=0)(_image()).as_tensor())


def test_boxes_in_another_box_mode_and_as_corners_move_with_the_sink():
    """sink_SpaceApplyPendingd___init___50 (``box_mode`` not passed on), _58 (``box_format`` not passed on). By hand,
    a flip of the 10 voxels of axis 0 sends the box edge ``x`` to ``10 - x``: centre-size boxes (``cccwhd``) keep
    their sizes and move their centre ``2.5 -> 7.5``; oriented corners ``(N, 8, 3)`` keep their order, each
    corner's ``x`` mirrored."""
    box = np.array([[2.5, 3.5, 1.5, 3.0, 3.0, 3.0]])  # cccwhd of [1, 4) x [2, 5) x [0, 3)
    data = Flipd("image", spatial_axis=0)({"image": _image(), "box": box}, lazy=True)
    out = SpaceApplyPendingd("image", box_keys="box", box_mode="cccwhd")(dict(data))
    np.testing.assert_allclose(np.asarray(out["box"]), [[7.5, 3.5, 1.5, 3.0, 3.0, 3.0]], rtol=0, atol=1e-9)
    corners = np.array(np.meshgrid([1.0, 4.0], [2.0, 5.0], [0.0, 3.0], indexing="ij")).reshape(3, -1).T[None]
    data = Flipd("image", spatial_axis=0)({"image": _image(), "box": corners.copy()}, lazy=True)
    out = SpaceApplyPendingd("image", box_keys="box", box_format="corners")(dict(data))
    expected = corners.copy()
    expected[..., 0] = 10.0 - corners[..., 0]
    assert np.asarray(out["box"]).shape == (1, 8, 3)
    np.testing.assert_allclose(np.asarray(out["box"]), expected, rtol=0, atol=1e-9)
