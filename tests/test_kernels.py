"""The compiled (numba) CPU kernels against the torch path they replace on CPU.

Both paths run here on CPU: bit for bit for nearest, label and copies, within 1e-5 for linear and
cubic, every padding mode, 2-D and 3-D; the composed nearest map-back against
``transforms.chain.compose_nearest``; the thread policy (nothing another thread can see), a forked
child after the parent ran a parallel kernel, and a process where numba cannot cache on disk.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch

from monai_spacetx import Space, index_map
from monai_spacetx.engine import PADDING_MODES, compiled, compose_nearest_gather, plan_warp, warp_image

import oracles
from conftest import random_space

# No skip when numba is missing: numba is a declared dependency and the package would quietly run the
# torch path without it; test_the_compiled_kernels_are_active fails instead (and every comparison
# below would compare the torch path with itself).

REPO = Path(__file__).resolve().parents[1]
#: (padding_mode, fill): every padding mode, the constant one with a zero and a non-zero fill
PADDINGS = [("zeros", 0.0), ("zeros", -3.0), ("border", 0.0), ("reflection", 0.0)]
assert {p for p, _ in PADDINGS} == set(PADDING_MODES)


def test_the_compiled_kernels_are_active(monkeypatch) -> None:
    """numba is declared in pyproject.toml's dependencies: it must import, and the kernels must be on."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert any(req.split(">")[0].split("=")[0].strip() == "numba" for req in project["project"]["dependencies"])
    import numba  # noqa: F401  (a broken numba install fails here, not as a skip)

    assert compiled.numba is not None, "monai_spacetx could not import numba: the torch path runs everywhere"
    assert compiled.available(), "the compiled kernels are switched off (MONAI_SPACETX_KERNELS=0?)"
    # and a CPU warp really goes through them (the kernel reports that it ran the call)
    called = []
    real = compiled.general_kernel
    monkeypatch.setattr(compiled, "general_kernel", lambda *a, **k: called.append(real(*a, **k)) or called[-1])
    space = Space((6, 5), spacing=(1.0, 1.3))
    warp_image(torch.arange(30.0).reshape(1, 6, 5), space, space.rotate(0.3), "linear")
    assert called == [True], "a CPU float32 oblique linear warp did not run a compiled kernel"


def _both(image, source: Space, target: Space, **kwargs):
    """``warp_image`` with the kernels, then with the torch path (same call)."""
    compiled_out = warp_image(image, source, target, **kwargs)
    with compiled.disabled():
        torch_out = warp_image(image, source, target, **kwargs)
    return compiled_out, torch_out


def _oblique_pair(rng: np.random.Generator, ndim: int) -> tuple[Space, Space]:
    """A random oblique source and a target rotated against it that overhangs it (fill and padding both read)."""
    source = random_space(rng, ndim, shape_range=(6, 14), origin_scale=1e3)
    angles = rng.uniform(-0.6, 0.6, size=1 if ndim == 2 else 3)
    target = source.crop([-3] * ndim, [n + 2 for n in source.shape]).rotate(tuple(angles)).respace(float(rng.uniform(0.6, 1.4)))
    assert plan_warp(source, target).kind == "general"
    return source, target


@pytest.fixture(params=["parallel", "serial"])
def build(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each kernel build: the parallel one (what a process runs, at any thread count) and the serial
    one (what a forked child of it runs), made the one this process runs by a parent pid not its own."""
    from monai_spacetx.engine.compiled import _runtime

    if request.param == "serial":
        monkeypatch.setattr(_runtime, "_parallel_pid", -1)
    ran: list[tuple[str, object]] = []
    real = _runtime._kernel
    monkeypatch.setattr(_runtime, "_kernel", lambda name: ran.append((name, real(name))) or ran[-1][1])
    yield request.param
    assert ran and all(kernel is _runtime._BUILT[name][request.param == "parallel"] for name, kernel in ran)


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("padding_mode, fill", PADDINGS)
@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic", "label"])
def test_kernels_match_the_torch_path(ndim: int, padding_mode: str, fill: float, mode: str, build: str) -> None:
    rng = np.random.default_rng(ndim * 100 + len(padding_mode) + int(fill))
    for _ in range(3):
        source, target = _oblique_pair(rng, ndim)
        if mode == "label":
            image = torch.from_numpy(rng.integers(0, 5, (2, *source.shape)).astype(np.uint8))
            fill_value = 0.0 if fill == 0 else 7.0
        else:
            # values in [0, 1): the tolerance is absolute (the torch path's float32 grid coordinates carry ~1e-6 voxel)
            image = torch.from_numpy(rng.random((2, *source.shape)).astype(np.float32))
            fill_value = fill
        ours, reference = _both(image, source, target, mode=mode, padding_mode=padding_mode, fill=fill_value)
        assert ours.dtype == reference.dtype and ours.shape == reference.shape
        if mode in ("nearest", "label"):
            assert torch.equal(ours, reference)
        else:
            torch.testing.assert_close(ours, reference, rtol=0, atol=1e-5)
        if padding_mode == "zeros":
            assert bool((ours == fill_value).any())


@pytest.mark.parametrize("ndim", [2, 3])
def test_label_kernel_on_regions_upsampled(ndim: int) -> None:
    """Blocky regions mapped onto a finer tilted grid (the usual label map-back): runs of voxels share a
    uniform cell, region boundaries need the vote; every padding, bit for bit with the torch path."""
    rng = np.random.default_rng(40 + ndim)
    source = random_space(rng, ndim, shape_range=(9, 15), origin_scale=1e2)
    target = source.crop([-2] * ndim, [n + 2 for n in source.shape]).rotate(tuple(rng.uniform(-0.3, 0.3, 1 if ndim == 2 else 3))).respace(0.35)
    blocks = (np.indices(source.shape) // 3).sum(0) + rng.integers(0, 2, source.shape) * (rng.random(source.shape) < 0.05)
    image = torch.from_numpy((blocks % 5).astype(np.uint8))[None]
    for padding_mode, fill in PADDINGS:
        ours, reference = _both(image, source, target, mode="label", padding_mode=padding_mode, fill=abs(fill))
        assert torch.equal(ours, reference), padding_mode
        assert len(torch.unique(ours)) >= 4


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int64, torch.float32])
@pytest.mark.parametrize("shape", [(10, 12, 9), (1, 12, 9), (10, 1, 9), (10, 12, 1), (10, 12), (1, 12), (10, 1)])
def test_label_map_of_uniform_cells(dtype: torch.dtype, shape: tuple[int, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    """The label kernel's map of uniform cells, 3-D and 2-D sources (a cell's label, or the dtype's largest value as the
    mark of the others, infinity for floats): blocky integer maps holding that largest value too (uniform
    cells of the mark's label, which read their 8 corners), 2 channels, a source axis of one voxel (read through a stride of 0),
    finer and coarser tilted targets: bit for bit with the torch path, and the map was built."""
    from monai_spacetx.engine.compiled import label as label_kernels

    ran: list[str] = []
    real = label_kernels._run
    monkeypatch.setattr(label_kernels, "_run", lambda name, *a: ran.append(name) or real(name, *a))
    rng = np.random.default_rng(sum(shape) + len(str(dtype)))
    nd = len(shape)
    source = Space(shape, spacing=(1.1, 0.9, 1.3)[:nd])
    top = 1e6 if dtype.is_floating_point else torch.iinfo(dtype).max  # float labels are finite: the mark (inf) is none of them
    values = torch.tensor([0, 3, top, 7], dtype=dtype)
    blocks = np.stack([((np.indices(shape) + rng.integers(0, 3, (nd,) + (1,) * nd)) // 3).sum(0) for _ in range(2)])
    noise = rng.integers(0, 4, blocks.shape) * (rng.random(blocks.shape) < 0.03)
    image = values[torch.from_numpy((blocks + noise) % 4)]
    for scale in (0.45, 1.6):
        target = source.rotate((0.2, -0.15, 0.1)[: 1 if nd == 2 else 3]).respace(scale)
        for padding_mode, fill in (("zeros", 0.0), ("border", 0.0)):
            ran.clear()
            ours, reference = _both(image, source, target, mode="label", padding_mode=padding_mode, fill=fill)
            assert "label_uniform" in ran
            assert torch.equal(ours, reference), (scale, padding_mode)
            assert len(torch.unique(ours)) >= 3


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8, torch.int32, torch.int64, torch.float64, torch.bool])
@pytest.mark.parametrize("shape", [(9, 10, 8), (1, 10, 8), (9, 10, 1), (9, 10), (1, 10)])
def test_label_map_of_faces(dtype: torch.dtype, shape: tuple[int, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    """The label kernel's faces in its map of cells, 3-D and 2-D sources (two labels split across one axis by a plane,
    marked with one of the 3 values below the dtype's largest: such a voxel reads its cell's 2 labels and
    takes the side its weight along that axis decides, or votes about one half): slabs across each axis
    in turn whose labels include the 4 marks (on both sides of a face and in uniform cells), 2 channels
    with the slabs shifted, a source axis of one voxel, finer and coarser tilted targets, and targets
    whose coordinates along the slabs' axis fall on exact halves (ties: the vote decides, to the smaller
    label), each padding without reflection: bit for bit with the torch path, and the map was built."""
    from monai_spacetx.engine.compiled import label as label_kernels

    ran: list[str] = []
    real = label_kernels._run
    monkeypatch.setattr(label_kernels, "_run", lambda name, *a: ran.append(name) or real(name, *a))
    if dtype == torch.bool:
        values = torch.tensor([False, True])
    elif dtype.is_floating_point:
        values = torch.tensor([0.0, 2.0, 1e6, -3.0, 7.0, 1e300], dtype=dtype)  # the float mark is inf: no label
    else:
        top = torch.iinfo(dtype).max
        values = torch.tensor([top, 0, top - 1, 5, top - 2, top - 3, 1], dtype=dtype)
    nd = len(shape)
    source = Space(shape)  # unit spacing at the origin: the half-voxel targets' coordinates are exact
    twist = np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]]) if nd == 3 else np.eye(1)
    turn = (0.2, -0.15, 0.1)[: 1 if nd == 2 else 3]
    for axis in range(nd):
        if shape[axis] == 1:
            continue
        slabs = [np.indices(shape)[axis] // 2 + c for c in (0, 1)]  # 2 voxels a slab: faces across this axis only
        image = values[torch.from_numpy(np.stack(slabs) % len(values))]
        halves = np.eye(nd + 1)
        others = [k for k in range(nd) if k != axis]
        halves[axis, axis] = 0.5  # the slabs' axis on exact halves, the two others turned
        halves[np.ix_(others, others)] = twist * 0.8
        if nd == 2:  # a shear of the other axis along the slabs' one: oblique, the slabs' coordinates still halves
            halves[others, axis] = 0.25
        halves[others, nd] = -0.3 * np.array(shape)[others] - 2.0  # past the source's edges: the whole source is read
        targets = [source.rotate(turn).respace(0.45), source.rotate(turn).respace(1.6),
                   Space.from_affine(halves, (2 * shape[axis] - 1, *[2 * shape[k] + 6 for k in others]))][: 3 if min(shape) > 1 else 2]
        for target in targets:
            for padding_mode, fill in (("zeros", 0.0), ("border", 0.0)):
                ran.clear()
                ours, reference = _both(image, source, target, mode="label", padding_mode=padding_mode, fill=fill)
                assert "label_uniform" in ran
                assert torch.equal(ours, reference), (axis, target.shape, padding_mode)
                assert len(torch.unique(ours)) >= 2


def test_label_kernel_on_a_strided_view() -> None:
    """A permuted, strided 3-D label view (no map of uniform cells: each interior voxel reads its cell's
    8 labels, faces decided without the vote) and its contiguous copy (the map), finer and coarser
    tilted targets, every padding: both bit for bit with the torch path on the view."""
    rng = np.random.default_rng(3)
    blocks = (np.indices((9, 24, 22, 20)).sum(0) // 4 + (rng.random((9, 24, 22, 20)) < 0.05)) % 5
    view = torch.from_numpy(blocks.astype(np.uint8)).permute(1, 0, 2, 3)[:3, ::2, 1:, :]  # (3, 5, 21, 20)
    assert not view.is_contiguous()
    source = Space(tuple(view.shape[1:]), spacing=(1.0, 1.2, 0.9))
    for target in (source.rotate((0.2, 0.1, -0.1)).respace(0.5), source.rotate((0.2, 0.1, -0.1)).respace(1.4)):
        for padding_mode in PADDING_MODES:
            ours, reference = _both(view, source, target, mode="label", padding_mode=padding_mode)
            assert torch.equal(ours, reference), padding_mode
            assert torch.equal(warp_image(view.contiguous(), source, target, "label", padding_mode=padding_mode), reference)
            assert len(torch.unique(ours)) >= 4


def test_label_kernel_refuses_a_strided_last_axis(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled label kernel writes rows as contiguous runs: an output box whose last axis has a stride
    (a transposed buffer) is left to the torch path (the kernel not run), with the same labels as the
    engine's own contiguous output."""
    from monai_spacetx.engine.box import target_box
    from monai_spacetx.engine.compiled import label as label_kernels
    from monai_spacetx.engine.label import run_label
    from monai_spacetx.engine.options import WarpOptions

    ran: list[str] = []
    real = label_kernels._run
    monkeypatch.setattr(label_kernels, "_run", lambda name, *a: ran.append(name) or real(name, *a))
    rng = np.random.default_rng(11)
    image = torch.from_numpy(((np.indices((12, 10, 9)) // 3).sum(0) % 4).astype(np.uint8))[None]
    source = Space((12, 10, 9), spacing=(1.0, 1.1, 0.9))
    target = source.rotate(tuple(rng.uniform(-0.3, 0.3, 3))).respace(0.7)
    plan, options = plan_warp(source, target), WarpOptions.parse("label", "border", 0.0)
    box = target_box(plan, options)
    assert plan.kind == "general" and box is not None
    buffer = torch.zeros(tuple(reversed(target.shape)) + (1,), dtype=torch.uint8).permute(3, 2, 1, 0)  # (1, *target), last axis strided
    dest = buffer[(slice(None), *box)]
    assert dest.stride(-1) != 1
    run_label(image, plan, box, options, dest)
    assert ran == []
    expected = warp_image(image, source, target, "label", padding_mode="border")[(slice(None), *box)]
    assert "label" in ran
    assert torch.equal(dest, expected) and len(torch.unique(expected)) >= 3


@pytest.mark.parametrize("x, floor", [(3.0, 3), (3.0 - 1e-12, 3), (3.0 - 5e-10, 3), (3.0 - 1e-8, 2), (2.5 - 1e-12, 2),
                                      (2.5 + 1e-12, 2), (2.999999, 2), (0.0, 0), (1e-12, 0), (7.0 + 1e-12, 7)])
def test_label_interior_cell_index(x: float, floor: int) -> None:
    """The label kernel's cell index skips the snap where it cannot matter: still the floor of the
    snapped coordinate (within SNAP_TOL = 1e-9 below an integer is that integer), decided by hand."""
    assert compiled._snapped_floor(x) == floor


@pytest.mark.parametrize("dtype", [torch.float64, torch.int16, torch.uint8, torch.bool, torch.int64, torch.float16, torch.complex64])
def test_nearest_moves_bits_of_any_dtype(dtype: torch.dtype) -> None:
    rng = np.random.default_rng(3)
    source, target = _oblique_pair(rng, 3)
    values = torch.from_numpy(rng.standard_normal((1, *source.shape)) * 50)
    image = values.to(dtype) if dtype != torch.complex64 else torch.complex(values.float(), -values.float())
    for padding_mode, fill in PADDINGS:
        fill = abs(fill) if dtype in (torch.bool, torch.uint8) and fill else fill
        fill = 1.0 if dtype == torch.bool and fill else fill
        ours, reference = _both(image, source, target, mode="nearest", padding_mode=padding_mode, fill=fill)
        assert ours.dtype == dtype and torch.equal(ours, reference), padding_mode


@pytest.mark.parametrize("dtype", [torch.int64, torch.int16, torch.float32, torch.bool])
@pytest.mark.parametrize("ndim", [2, 3])
def test_label_mode_any_label_dtype(dtype: torch.dtype, ndim: int) -> None:
    rng = np.random.default_rng(17 + ndim)
    source, target = _oblique_pair(rng, ndim)
    high = 2 if dtype == torch.bool else 9
    image = torch.from_numpy(rng.integers(0, high, source.shape)).to(dtype)
    for padding_mode, fill in PADDINGS:
        fill = min(abs(fill), 1.0)
        ours, reference = _both(image, source, target, mode="label", padding_mode=padding_mode, fill=fill)
        assert torch.equal(ours, reference), padding_mode


def test_label_ties_and_exact_half_coordinates() -> None:
    """A 2x shrink of a checkerboard rotated by 90 degrees plus a half-voxel shift: exact ties between
    classes at every voxel (weights 1/2, 1/4): the smaller label wins on both paths."""
    space = Space((12, 10, 8))
    labels = torch.from_numpy((np.indices(space.shape).sum(0) % 3).astype(np.int32))
    turned = space.rotate((np.pi / 2, 0.0, 0.0)).resize((6, 5, 4))
    half = np.eye(4)
    half[:3, 3] = 0.5
    shifted = Space.from_affine(turned.affine @ half, turned.shape)
    for target in (turned, shifted):
        plan = plan_warp(space, target)
        forced = dataclasses.replace(plan, kind="general")
        for padding_mode in PADDING_MODES:
            ours, reference = _both(labels, space, target, mode="label", padding_mode=padding_mode, plan=forced)
            assert torch.equal(ours, reference)


def test_strided_views_and_channels() -> None:
    """A permuted, sliced view is read in place and gives what its contiguous copy gives."""
    rng = np.random.default_rng(5)
    base = torch.from_numpy(rng.standard_normal((9, 3, 11, 13)).astype(np.float32))
    view = base.permute(1, 0, 2, 3)[:, :, 1:, ::2]  # (3, 9, 10, 7), no unit stride anywhere
    source = random_space(rng, 3, shape_range=(9, 9))
    source = Space(tuple(view.shape[1:]), spacing=source.spacing, origin=source.origin, direction=source.direction)
    target = source.rotate((0.3, -0.2, 0.1))
    for mode in ("nearest", "linear", "cubic"):
        strided = warp_image(view, source, target, mode)
        contiguous = warp_image(view.contiguous(), source, target, mode)
        assert torch.equal(strided, contiguous), mode


def test_interleaved_calls_on_the_same_grids_each_get_their_own_kernel_arguments() -> None:
    """The engine keeps the kernel arguments of recent calls (layouts, geometry, inside runs, fill). Calls
    on the same two grids that differ in one thing each (padding, fill and its sign, mode, dtype, the
    input's layout, the channel count, a source window's position) interleaved, twice round: each
    matches the torch path."""
    rng = np.random.default_rng(21)
    source = random_space(rng, 3, shape_range=(9, 12))
    target = source.crop([-2] * 3, [n + 1 for n in source.shape]).rotate((0.3, -0.2, 0.1))
    base = torch.from_numpy(rng.standard_normal((2, *source.shape)).astype(np.float32))
    permuted = base.permute(0, 3, 1, 2).contiguous().permute(0, 2, 3, 1)  # same values, other strides
    variants = [(base, "linear", "zeros", 0.0), (base, "linear", "zeros", -0.0), (base, "linear", "zeros", 2.5),
                (base, "linear", "border", 0.0), (base, "linear", "reflection", 0.0), (base, "nearest", "zeros", 0.0),
                (base, "cubic", "zeros", 0.0), (base.double(), "linear", "zeros", 0.0), (base.double(), "nearest", "zeros", 0.0),
                (permuted, "linear", "zeros", 0.0), (permuted, "nearest", "reflection", 0.0), (base[:1], "linear", "zeros", 0.0),
                (base.round().to(torch.int32), "nearest", "zeros", 7.0)]
    for _ in range(2):
        for image, mode, padding_mode, fill in variants:
            ours, reference = _both(image, source, target, mode=mode, padding_mode=padding_mode, fill=fill)
            assert ours.dtype == reference.dtype and ours.shape == reference.shape
            close = torch.equal if mode == "nearest" else lambda a, b: torch.allclose(a, b, atol=1e-5)
            assert close(ours, reference) and torch.equal(torch.signbit(ours), torch.signbit(reference)), (image.dtype, mode, padding_mode, fill)


def test_anti_aliasing_and_integer_input_on_the_general_path() -> None:
    rng = np.random.default_rng(8)
    source = random_space(rng, 3, shape_range=(20, 24))
    target = source.rotate((0.2, 0.3, 0.0)).respace(2.5)
    image = torch.from_numpy((rng.standard_normal(source.shape) * 100).astype(np.int16))
    for mode in ("linear", "cubic"):
        order = 1 if mode == "linear" else 3
        ours, reference = _both(image, source, target, mode=mode, padding_mode="reflection", options=None)
        assert ours.dtype == torch.float32 and reference.dtype == torch.float32
        expected = oracles.interpolate(image.numpy(), source.affine, target.affine, target.shape, order, "reflection")
        for out in (ours, reference):  # both paths against the brute-force interpolator (values ~100: 1e-5 relative)
            np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-3)
        from monai_spacetx.engine import WarpOptions

        options = WarpOptions.parse(mode, "border", anti_aliasing=True)
        ours, reference = _both(image.float(), source, target, options=options)
        # shrink per source axis: the length of each row of the target -> source index map (2.5 mm / spacing)
        matrix = np.linalg.solve(source.affine, target.affine)[:3, :3]
        sigmas = [max(0.0, (float(np.linalg.norm(row)) - 1.0) / 2.0) for row in matrix]
        assert max(sigmas) > 0.3
        expected = oracles.interpolate(oracles.gaussian_smoothed(image.numpy(), sigmas, "border"), source.affine, target.affine,
                                       target.shape, order, "border")
        for out in (ours, reference):
            np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-3)


def test_autograd_keeps_the_torch_path() -> None:
    source = Space((8, 9, 7))
    target = source.rotate((0.2, 0.1, 0.0))
    image = torch.rand(source.shape, requires_grad=True)
    out = warp_image(image, source, target, "linear")
    out.sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0


def test_copies_are_bitwise_on_both_paths() -> None:
    """Crops, pads, flips and permutations never interpolate: every mode gives the input's own values, bit
    for bit on the index and compiled paths (and nearest/label on the torch path), against numpy slicing."""
    space = Space((7, 6, 5), spacing=(0.8, 1.0, 2.0))
    image = torch.from_numpy(np.random.default_rng(2).standard_normal((2, *space.shape)).astype(np.float32))
    padded = np.zeros((2, 7 + 0, 6 + 4, 5), np.float32)  # crop (1, -2, 0)-(6, 8, 5): rows 1..5, 2 fill columns each side
    padded[:, :5, 2:8, :] = image.numpy()[:, 1:6, :, :]
    by_hand = {
        "crop": (space.crop((1, -2, 0), (6, 8, 5)), padded[:, :5]),
        "flip-permute": (space.flip((0, 2)).permute((2, 0, 1)), np.flip(image.numpy(), (1, 3)).transpose(0, 3, 1, 2)),
    }
    for name, (target, values) in by_hand.items():
        for mode in ("nearest", "linear", "cubic", "label"):
            data = image if mode != "label" else (image > 0).to(torch.uint8)
            expected = torch.from_numpy(np.ascontiguousarray(values if mode != "label" else (values > 0).astype(np.uint8)))
            forced = dataclasses.replace(plan_warp(space, target), kind="general")
            ours, reference = _both(data, space, target, mode=mode, plan=forced)
            exact = warp_image(data, space, target, mode=mode)
            for path, out in (("compiled", ours), ("torch", reference), ("index", exact)):
                assert out.dtype == data.dtype, (name, mode, path)
                if path == "torch" and mode in ("linear", "cubic"):
                    # grid_sample's coordinates, normalised to [-1, 1] in float32, land a few ulp off the voxel
                    # centres: not bitwise on the torch path (CUDA, autograd), within a few float32 ulp
                    torch.testing.assert_close(out, expected, rtol=2e-6, atol=1e-6)
                else:
                    assert torch.equal(out, expected), (name, mode, path, float((out.double() - expected.double()).abs().max()))


# ---------------------------------------------------------------------------- composed nearest map-back
def _chain(rng: np.random.Generator, ndim: int, steps: int) -> list[Space]:
    grids = [random_space(rng, ndim, shape_range=(6, 12), origin_scale=20.0)]
    for _ in range(steps):
        angles = tuple(rng.uniform(-0.4, 0.4, size=1 if ndim == 2 else 3))
        grids.append(grids[-1].rotate(angles).respace(float(rng.uniform(0.5, 1.3))).crop([1] * ndim, [n + 1 for n in grids[-1].shape]))
    return grids


def _brute_map_back(data: torch.Tensor, grids: list[Space], fill: float) -> torch.Tensor:
    """The composed nearest map-back by brute force from the raw affines: nearest from each grid to the one
    before it, last to first (a voxel that leaves a grid takes the fill, and the fill travels on)."""
    values = data.numpy()
    for later, earlier in zip(grids[::-1][:-1], grids[::-1][1:]):
        values = np.stack([oracles.nearest(c, later.affine, earlier.affine, earlier.shape, fill=fill) for c in values])
    return torch.from_numpy(values)


def _reference_map_back(data: torch.Tensor, grids: list[Space], fill: float) -> torch.Tensor:
    from monai_spacetx.transforms.chain import compose_nearest

    index, valid = compose_nearest(grids)
    flat = np.ravel_multi_index(tuple(np.where(valid[:, None], index, 0).T), grids[-1].shape)
    out = data.reshape(data.shape[0], -1)[:, torch.as_tensor(flat)]
    out[:, torch.as_tensor(~valid)] = torch.as_tensor(fill, dtype=data.dtype)
    return out.reshape(data.shape[0], *grids[0].shape)


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("steps", [1, 3])
def test_compose_nearest_gather_matches_chain(ndim: int, steps: int) -> None:
    rng = np.random.default_rng(ndim * 10 + steps)
    for dtype in (torch.float32, torch.uint8, torch.int64):
        grids = _chain(rng, ndim, steps)
        data = torch.from_numpy(rng.integers(0, 200, (2, *grids[-1].shape))).to(dtype)
        maps = [index_map(a, b) for a, b in zip(grids[:-1], grids[1:])]
        shapes = [g.shape for g in grids[1:]]
        expected = _brute_map_back(data, grids, 5.0)
        ours = compose_nearest_gather(data, maps, shapes, grids[0].shape, 5.0)
        with compiled.disabled():
            fallback = compose_nearest_gather(data, maps, shapes, grids[0].shape, 5.0)
        assert torch.equal(ours, expected) and torch.equal(fallback, expected)
        assert bool((ours == 5).any())


def test_compose_nearest_gather_axis_aligned_ties() -> None:
    """Resize steps put centres exactly on voxel boundaries (x = k + 1/2): chain's rule decides them."""
    native = Space((16, 12, 10), spacing=(0.7, 0.9, 2.0))
    grids = [native, native.resize((8, 6, 5)), native.resize((8, 6, 5)).resize((16, 12, 10))]
    data = torch.arange(int(np.prod(grids[-1].shape)), dtype=torch.int32).reshape(1, *grids[-1].shape)
    maps = [index_map(a, b) for a, b in zip(grids[:-1], grids[1:])]
    expected = _reference_map_back(data, grids, -1.0)
    assert torch.equal(compose_nearest_gather(data, maps, [g.shape for g in grids[1:]], native.shape, -1.0), expected)


@pytest.mark.parametrize("shift, up", [(0.5 - 1e-12, 1), (0.5, 1), (0.5 + 1e-12, 1), (0.49, 0), (-0.5 - 1e-12, 0), (-0.5, 0), (-0.51, -1)])
def test_compose_nearest_gather_tie_rule_by_hand(shift: float, up: int) -> None:
    """A centre on (or within round-off of) a box boundary goes to the higher voxel, in the
    compiled kernel and the torch fallback alike: a shift of +-1/2 along axis 0, decided by hand."""
    data = torch.arange(6 * 4 * 3, dtype=torch.int16).reshape(1, 6, 4, 3)
    step = np.eye(4)
    step[0, 3] = shift
    expected = torch.full_like(data, -7)
    rows = [i for i in range(6) if 0 <= i + up < 6]
    expected[:, rows] = data[:, [i + up for i in rows]]
    for disable in (False, True):
        with compiled.disabled() if disable else contextlib.nullcontext():
            ours = compose_nearest_gather(data, [step], [(6, 4, 3)], (6, 4, 3), -7.0)
        assert torch.equal(ours, expected), (shift, disable)


def test_compose_nearest_gather_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="one shape per map"):
        compose_nearest_gather(torch.zeros(1, 3, 3), [np.eye(3)], [], (3, 3), 0.0)
    with pytest.raises(ValueError, match="must be"):
        compose_nearest_gather(torch.zeros(1, 3, 4), [np.eye(3)], [(3, 3)], (3, 3), 0.0)


WARM_UP_CHECK = """
import torch
from monai_spacetx import Space
from monai_spacetx.engine import compiled, warp_image
from monai_spacetx.engine.export import warp_argmax

def signatures():
    return {name: [len(build.signatures) for build in builds] for name, builds in compiled._BUILT.items()}

assert signatures() == {name: [0, 0] for name in compiled._BUILT}
compiled.warm_up()
built = signatures()
source = Space((12, 12, 12))
target = source.rotate((0.2, 0.1, 0.0)).resize((19, 19, 19))
for threads in (1, 2):
    torch.set_num_threads(threads)
    for mode in ("nearest", "linear", "cubic"):
        warp_image(torch.rand(1, *source.shape), source, target, mode)
    warp_image(torch.randint(0, 3, (1, *source.shape), dtype=torch.uint8), source, target, "label")
    for keep_prob in (False, True):
        warp_argmax(torch.randn(4, *source.shape), source, target, keep_prob=keep_prob)
print({name: (built[name], now) for name, now in signatures().items() if now != built[name]})
"""


def test_warm_up_compiles_what_the_first_calls_use() -> None:
    """In a new process, after ``warm_up`` a float32 resample, a uint8 label map-back and a float32
    argmax export (with and without the winning value) compile nothing more, at 1 and 2 threads:
    the benchmarks' cold-start figure covers them."""
    done = subprocess.run([sys.executable, "-c", WARM_UP_CHECK], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "{}", done.stdout


# ---------------------------------------------------------------------------- threads, fork, cache
def test_thread_policy_is_invisible_to_other_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """A call that lowers its thread count (a busy machine) changes nothing another thread sees,
    not even a thread started during the call; the caller's own counts come back."""
    from monai_spacetx.engine import threads

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        monkeypatch.setattr(threads, "PROBE_SECONDS", 0.0)  # each call counts again (the patched counts)
        monkeypatch.setattr(threads, "_usable_cpus", lambda: 2)
        monkeypatch.setattr(threads, "other_running_tasks", lambda: 1.0)
        seen: dict[str, int] = {}
        numba_before = compiled.numba.get_num_threads()
        with threads.engine_threads(torch.device("cpu")) as used:
            assert used == 1 and threads.call_threads() == 1 and torch.get_num_threads() == 1
            worker = threading.Thread(target=lambda: seen.update(torch=torch.get_num_threads(), call=threads.call_threads()))
            worker.start()
            worker.join()
        assert seen == {"torch": 2, "call": 2}
        assert torch.get_num_threads() == 2 and compiled.numba.get_num_threads() == numba_before
    finally:
        torch.set_num_threads(before)


def _child_warp(queue) -> None:  # pragma: no cover - runs in a forked child
    space = Space((9, 8, 7))
    out = warp_image(torch.rand(1, *space.shape), space, space.rotate((0.3, 0.0, 0.1)), "linear")
    queue.put(tuple(out.shape))


@pytest.mark.skipif(sys.platform != "linux" or compiled.numba.config.NUMBA_NUM_THREADS < 2, reason="fork + 2 numba threads")
def test_forked_child_after_a_parallel_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """GNU OpenMP aborts a forked child that opens a parallel region after its parent did: the child
    (a DataLoader worker) must run the serial builds."""
    from monai_spacetx.engine import threads

    monkeypatch.setattr(threads, "PROBE_SECONDS", 0.0)
    monkeypatch.setattr(threads, "free_cpus", lambda: 2)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        space = Space((40, 30, 20))
        warp_image(torch.rand(space.shape), space, space.rotate((0.2, 0.1, 0.0)), "nearest")
        assert compiled._parallel_pid is not None  # the parent did run a parallel kernel
    finally:
        torch.set_num_threads(before)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_warp, args=(queue,))
    child.start()
    child.join(120)
    assert child.exitcode == 0 and queue.get(timeout=5) == (1, 9, 8, 7)


_USER_POOL_THEN_FORK = """
import multiprocessing, sys
import numba, numpy as np, torch
from monai_spacetx import Space
from monai_spacetx.engine import compiled, warp_image

@numba.njit(parallel=True)
def total(x):
    s = 0.0
    for i in numba.prange(x.size):
        s += x[i]
    return s

space = Space((9, 8, 7))
target = space.rotate((0.3, 0.0, 0.1))
image = torch.rand(1, *space.shape, generator=torch.Generator().manual_seed(0))

def child(queue):
    queue.put(warp_image(image, space, target, "linear").numpy())

if __name__ == "__main__":
    assert total(np.ones(1000)) == 1000.0 and compiled._parallel_pid is None  # the user's pool, no kernel of ours
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    worker = context.Process(target=child, args=(queue,))
    worker.start()
    worker.join(120)
    assert worker.exitcode == 0, f"the forked child ended with {worker.exitcode}"
    with compiled.disabled():
        reference = warp_image(image, space, target, "linear").numpy()
    np.testing.assert_allclose(queue.get(timeout=5), reference, atol=1e-5)
    print(numba.threading_layer())
"""


@pytest.mark.skipif(sys.platform != "linux" or compiled.numba.config.NUMBA_NUM_THREADS < 2, reason="fork + 2 numba threads")
def test_forked_child_after_the_users_own_parallel_numba_code(tmp_path: Path) -> None:
    """The parent started numba's thread pool with its own parallel code, never a kernel of ours, then
    forked: the child's warp must run (serial builds) and match the torch path. Under GNU OpenMP (this
    machine's layer) the child aborted before (a new process: this one has run kernels)."""
    script = tmp_path / "user_pool_then_fork.py"
    script.write_text(_USER_POOL_THEN_FORK)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("threads", [1, 3])
def test_the_first_parallel_kernel_keeps_the_torch_thread_count(threads: int) -> None:
    """numba's OpenMP layer, started by a process's first parallel kernel, sets the calling thread's
    OpenMP count to numba's own; torch reads the same count where both load one OpenMP runtime. A
    user's ``torch.set_num_threads`` must survive the first warp (a new process: the first one)."""
    script = (
        "import torch\n"
        f"torch.set_num_threads({threads})\n"
        "from monai_spacetx import Space\n"
        "from monai_spacetx.engine import warp_image\n"
        "space = Space((20, 18, 16))\n"
        "warp_image(torch.rand(space.shape), space, space.rotate((0.2, 0.1, 0.0)), 'nearest')\n"
        "print(torch.get_num_threads())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == str(threads)


CONCURRENT_CALLS = """
import threading
import numpy as np
import torch
torch.set_num_threads({threads})
import numba
from monai_spacetx import Space
from monai_spacetx.engine import compiled, warp_image
space = Space((40, 36, 30))
target = space.rotate((0.2, 0.1, 0.0))
image = torch.rand(space.shape, generator=torch.Generator().manual_seed(0))
with compiled.disabled():
    expected = warp_image(image, space, target, "linear")
results = []
def work():
    results.extend(bool(torch.allclose(warp_image(image, space, target, "linear"), expected, rtol=0, atol=1e-5)) for _ in range(30))
workers = [threading.Thread(target=work) for _ in range(3)] + [threading.Thread(target=compiled.warm_up)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
print(numba.threading_layer(), len(results), all(results))
"""


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_calling_at_once_under_numbas_workqueue_layer(threads: int) -> None:
    """numba's workqueue layer (where neither TBB nor OpenMP is found) aborts the process when two
    threads launch parallel kernels at once: three threads warping together and a fourth warming the
    kernels up must all finish, right (the torch path as reference), at one and two torch threads."""
    env = {**os.environ, "NUMBA_THREADING_LAYER": "workqueue"}
    done = subprocess.run([sys.executable, "-c", CONCURRENT_CALLS.format(threads=threads)], capture_output=True, text=True,
                          timeout=600, cwd=REPO, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-3:] == ["workqueue", "90", "True"], done.stdout


def test_without_a_writable_cache_kernels_compile_in_memory() -> None:
    """A read-only install: numba finds no cache location and refuses ``cache=True``; the kernels are
    then compiled in memory and give the same result."""
    script = (
        "import numba.core.caching as c\n"
        "c.CacheImpl._locator_classes = []\n"  # no location anywhere: what a read-only install with no writable home sees
        "import torch\n"
        "from monai_spacetx import Space\n"
        "from monai_spacetx.engine import compiled, warp_image\n"
        "assert compiled.available()\n"
        "space = Space((6, 5, 4))\n"
        "out = warp_image(torch.arange(120.0).reshape(6, 5, 4), space, space.rotate((0.2, 0.0, 0.0)), 'nearest')\n"
        "print(float(out.sum()))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    space = Space((6, 5, 4))
    expected = warp_image(torch.arange(120.0).reshape(6, 5, 4), space, space.rotate((0.2, 0.0, 0.0)), "nearest")
    assert float(result.stdout.strip()) == float(expected.sum())


# ---------------------------------------------------------------------------- argmax export of tied float16 channels
@pytest.mark.parametrize("path", ["compiled", "torch"])
@pytest.mark.parametrize("oblique", [False, True])
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
def test_argmax_export_when_a_voxels_best_classes_tie(path: str, oblique: bool, dtype: torch.dtype) -> None:
    """``warp_argmax`` (``SpaceInvertd(argmax=True)``) on channels where a source voxel's best classes
    are exactly equal (float16 probabilities round many to the same value) against a brute-force
    oracle: every channel interpolated in float64 by ``scipy.ndimage.map_coordinates(order=1)`` at the
    coordinates of the two affines, then argmax. A class tied for first at a corner must still count
    in the bound that decides whether a cell's other classes can win (it did not on the torch path)."""
    from scipy.ndimage import map_coordinates

    from monai_spacetx.engine.export import warp_argmax

    gen = torch.Generator().manual_seed(7)
    source = Space((9, 8, 7), spacing=(1.5, 1.2, 2.0), origin=(3.0, -2.0, 1.0))
    target = source.resize((21, 17, 15))
    if oblique:
        target = target.rotate((0.2, -0.1, 0.15))
    # 40 classes of values on a coarse float16 grid (multiples of 1/16): many exact ties at every voxel
    x = (torch.randint(0, 17, (40, *source.shape), generator=gen).to(torch.float64) / 16).to(dtype)
    with compiled.disabled() if path == "torch" else contextlib.nullcontext():
        labels, _ = warp_argmax(x, source, target)
    m = np.linalg.inv(source.affine) @ target.affine
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float64) for n in target.shape], indexing="ij")).reshape(3, -1)
    coords = m[:3, :3] @ grid + m[:3, 3:]
    n = np.array(source.shape, dtype=np.float64)[:, None]
    inside = np.all((coords >= -0.5 + 1e-6) & (coords <= n - 0.5 - 1e-6), axis=0)
    clamped = np.clip(coords, 0.0, n - 1.0)
    values = np.stack([map_coordinates(c, clamped, order=1, mode="nearest") for c in x.double().numpy()])
    ordered = np.sort(values, axis=0)
    clear = inside & (ordered[-1] - ordered[-2] > 1e-9)  # the oracle's two best differ: one right answer
    assert clear.sum() > 1000
    got = labels.reshape(-1).numpy().astype(np.int64)
    wrong = clear & (got != values.argmax(0))
    assert not wrong.any(), f"{int(wrong.sum())} of {int(clear.sum())} voxels differ from the oracle"


# ---------------------------------------------------------------------------- axis-aligned label mode
@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("padding_mode, fill", PADDINGS)
def test_axis_aligned_label_kernel_matches_the_torch_path(ndim: int, padding_mode: str, fill: float, monkeypatch, build: str) -> None:
    """Axis-aligned label mode (respacings and resizes up and down, flips, a target overhanging the
    source) runs its compiled kernel on CPU (counted: the test is not the torch path twice) and gives
    the torch separable path's labels bit for bit: 2, 5 and 40 classes, blocky regions and noise,
    two channels, a non-contiguous source, every padding."""
    from monai_spacetx.engine import label as label_path

    ran = []
    real = compiled.label_axes_kernel
    monkeypatch.setattr(compiled, "label_axes_kernel", lambda *a, **k: ran.append(real(*a, **k)) or ran[-1])
    rng = np.random.default_rng(70 + ndim + len(padding_mode))
    for case in range(6):
        source = Space(tuple(int(n) for n in rng.integers(7, 13, ndim)), spacing=tuple(rng.uniform(0.7, 1.6, ndim)))
        scale = (0.45, 1.7, 0.8, 1.3, 0.6, 2.2)[case]
        target = source.crop([-2] * ndim, [n + 1 for n in source.shape]).respace(tuple(float(s) * scale for s in source.spacing))
        if case == 3:
            target = target.flip(0)
        assert plan_warp(source, target).kind in ("separable", "index")
        classes = (2, 5, 40)[case % 3]
        blocks = (np.indices(source.shape) // 2).sum(0) if case % 2 else rng.integers(0, classes, source.shape)
        image = torch.from_numpy(np.stack([blocks % classes, (blocks * 7 + 1) % classes]).astype(np.uint8))
        if case == 4:  # a non-contiguous view of the same labels
            image = image.transpose(1, 2).contiguous().transpose(1, 2)
        ours, reference = _both(image, source, target, mode="label", padding_mode=padding_mode, fill=abs(fill))
        assert torch.equal(ours, reference), (case, padding_mode)
    assert ran.count(True) == 6  # each case's first call ran the kernel (the second is the torch path's refusal)
    assert label_path.compiled is compiled
