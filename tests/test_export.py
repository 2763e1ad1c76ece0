"""Export in bounded memory: ``warp_argmax`` and ``SpaceInvert(d)(..., argmax=True)``.

The oracle is independent of the package: the index map from the two affines (numpy), every
channel resampled by ``scipy.ndimage.map_coordinates(order=1)``, then ``argmax``. Labels may
differ from it only where the oracle's two best channels tie to round-off.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from scipy.ndimage import map_coordinates

import oracles

from monai_spacetx import Space
from monai_spacetx.engine import compiled, warp_image
from monai_spacetx.engine.export import label_dtype, warp_argmax
from monai_spacetx.engine.options import WarpOptions
from monai_spacetx.errors import ModeError, ShapeMismatchError, SpaceTypeError

#: Two channels whose oracle values differ by less than this are a tie (float64 round-off of float32 inputs).
TIE = 1e-9
#: Voxel centres this close to the source field of view's edge are left out (inside or outside is round-off).
EDGE = 1e-6


def oracle(x: np.ndarray, source: Space, target: Space, padding: str = "zeros", fill: int = 0):
    """``(labels, best, gap, near_edge)`` by brute force: every channel by ``map_coordinates(order=1)``."""
    ndim = source.ndim
    m = np.linalg.inv(np.asarray(source.affine, dtype=np.float64)) @ np.asarray(target.affine, dtype=np.float64)
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float64) for n in target.shape], indexing="ij")).reshape(ndim, -1)
    coords = m[:ndim, :ndim] @ grid + m[:ndim, ndim:]
    n = np.array(source.shape, dtype=np.float64)[:, None]
    inside = np.all((coords >= -0.5) & (coords <= n - 0.5), axis=0)
    near_edge = np.any((np.abs(coords + 0.5) < EDGE) | (np.abs(coords - (n - 0.5)) < EDGE), axis=0)
    if padding == "reflection":
        sample, scipy_mode = coords, "reflect"  # half-sample symmetric: reflection about -0.5 and n - 0.5
    else:
        sample, scipy_mode = np.clip(coords, 0.0, n - 1.0), "nearest"  # taps clamped to the edge voxel
    values = np.stack([map_coordinates(c.astype(np.float64), sample, order=1, mode=scipy_mode) for c in x])
    labels = values.argmax(0)
    best = values.max(0)
    ordered = np.sort(values, axis=0)
    gap = ordered[-1] - ordered[-2] if len(x) > 1 else np.full(labels.shape, np.inf)
    if padding == "zeros":
        labels = np.where(inside, labels, fill)
        best = np.where(inside, best, 0.0)
        gap = np.where(inside, gap, np.inf)
    shape = target.shape
    return labels.reshape(shape), best.reshape(shape), gap.reshape(shape), near_edge.reshape(shape)


def cubic_oracle(x: np.ndarray, source: Space, target: Space, fill: int = 0):
    """``(labels, best, gap, near_edge)`` with every channel by the brute-force Keys cubic (``zeros`` padding)."""
    values = np.stack([oracles.interpolate(c, source.affine, target.affine, target.shape, 3, "zeros", np.nan) for c in x])
    inside = ~np.isnan(values[0])
    values = np.where(inside, values, 0.0)
    ordered = np.sort(values, axis=0)
    labels = np.where(inside, values.argmax(0), fill)
    gap = np.where(inside, ordered[-1] - ordered[-2], np.inf)
    _, _, _, near_edge = oracle(x[:1], source, target)
    return labels, np.where(inside, ordered[-1], 0.0), gap, near_edge


def geometry(ndim: int, oblique: bool, seed: int = 0) -> tuple[Space, Space]:
    """A coarse working grid and a finer native grid over about the same field of view."""
    rng = np.random.default_rng(seed)
    shape = (17, 14, 11)[:ndim]
    working = Space(shape, spacing=(1.5, 1.6, 2.0)[:ndim], origin=rng.uniform(-20, 20, ndim))
    native = working.resize(tuple(int(n * 1.7) for n in shape)).pad(2)  # a margin outside the working grid
    if oblique:
        native = native.rotate((0.31,) if ndim == 2 else (0.31, -0.2, 0.13))
    return working, native


def check_against_oracle(x: np.ndarray, working: Space, native: Space, padding: str, fill: int = 0, mode: str = "linear"):
    labels, prob = warp_argmax(torch.from_numpy(x), working, native, WarpOptions.parse(mode, padding, fill), keep_prob=True)
    assert labels.shape == (1, *native.shape) and prob is not None and prob.shape == labels.shape
    expected, best, gap, near_edge = oracle(x, working, native, padding, fill)
    differ = (labels[0].numpy() != expected) & ~near_edge
    assert (gap[differ] < TIE).all(), f"{int(differ.sum())} voxels differ, gaps {gap[differ][:5]}"
    close = ~near_edge
    np.testing.assert_allclose(prob[0].numpy()[close], best[close], rtol=0, atol=1e-5)
    return labels, expected


@pytest.mark.parametrize("path", ["compiled", "torch"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("oblique", [False, True], ids=["axis-aligned", "oblique"])
@pytest.mark.parametrize("ndim", [2, 3])
def test_argmax_equals_resample_every_channel_then_argmax(ndim: int, oblique: bool, padding: str, path: str) -> None:
    """Both CPU paths: the compiled kernels, and the torch path (what CUDA tensors run)."""
    working, native = geometry(ndim, oblique)
    x = np.random.default_rng(ndim + 2 * oblique).standard_normal((6, *working.shape)).astype(np.float32)
    with compiled.disabled() if path == "torch" else contextlib.nullcontext():
        labels, expected = check_against_oracle(x, working, native, padding)
    assert labels.dtype == torch.uint8
    assert len(np.unique(expected)) == 6  # random logits: every class wins somewhere
    if padding == "zeros":
        assert (labels[0].numpy() == 0).any()


@pytest.mark.parametrize("oblique", [False, True], ids=["axis-aligned", "oblique"])
def test_smooth_logits_and_fill_label(oblique: bool) -> None:
    """Segmentation-like logits (large pure regions, few mixed cells) and a fill label that is no class."""
    working, native = geometry(3, oblique, seed=3)
    rng = np.random.default_rng(7)
    coarse = torch.from_numpy(rng.standard_normal((9, 3, 3, 3)) * 4).float()
    x = torch.nn.functional.interpolate(coarse[None], size=working.shape, mode="trilinear", align_corners=False)[0].numpy()
    labels, expected = check_against_oracle(x, working, native, "zeros", fill=200)
    assert (labels == 200).any() and labels.dtype == torch.uint8


def test_certificate_falls_back_to_every_class() -> None:
    """A class that is nobody's first maximum can still win between two corners: all classes are then scored."""
    space = Space((2, 1))
    target = space.resize((8, 1))  # many voxels between the two corners
    x = np.array([[[1.0], [0.0]], [[0.0], [1.0]], [[0.7], [0.7]]], dtype=np.float32)  # class 2 wins in the middle
    labels, prob = warp_argmax(torch.from_numpy(x), space, target, WarpOptions.parse("linear", "border"), keep_prob=True)
    expected, best, _, _ = oracle(x, space, target, "border")
    np.testing.assert_array_equal(labels[0].numpy(), expected)
    assert set(np.unique(expected)) == {0, 1, 2}
    assert prob is not None
    np.testing.assert_allclose(prob[0].numpy(), best, atol=1e-6)


@pytest.mark.parametrize("path", ["compiled", "torch"])
def test_ties_between_corner_classes_go_to_the_smallest_class(path: str) -> None:
    """Exact ties halfway between corners, decided by hand: a certified two-class cell (either
    class order), a four-class cell, and a class that is nobody's first maximum tying with them."""
    halfway = Space((2, 1)).resize((3, 1))  # target voxel 1's centre is source index 0.5: weights 1/2, 1/2
    centre = Space((2, 2)).resize((3, 3))  # target voxel (1, 1) is the cell's centre: weights 1/4 each
    one_hot = np.eye(4, dtype=np.float32).reshape(4, 2, 2)  # class k is 1 at corner k only
    quarter = np.full((1, 2, 2), 0.25, dtype=np.float32)
    low = np.full((1, 2, 1), -5.0, dtype=np.float32)
    cases = [  # (target, channels, voxel, winner, its value)
        (halfway, np.concatenate([np.array([[[1.0], [0.0]], [[0.0], [1.0]]], dtype=np.float32), low]), (1, 0), 0, 0.5),
        (halfway, np.concatenate([np.array([[[0.0], [1.0]], [[1.0], [0.0]]], dtype=np.float32), low]), (1, 0), 0, 0.5),
        (centre, one_hot, (1, 1), 0, 0.25),
        (centre, np.concatenate([quarter, one_hot]), (1, 1), 0, 0.25),  # class 0 is never a first maximum
        (centre, np.concatenate([one_hot, quarter]), (1, 1), 0, 0.25),
    ]
    with compiled.disabled() if path == "torch" else contextlib.nullcontext():
        for target, x, voxel, winner, value in cases:
            source = Space(x.shape[1:])
            labels, prob = warp_argmax(torch.from_numpy(x), source, target, WarpOptions.parse("linear", "border"), keep_prob=True)
            assert int(labels[0][voxel]) == winner, (x.shape, labels[0])
            assert prob is not None and float(prob[0][voxel]) == pytest.approx(value, abs=1e-7)


@pytest.mark.parametrize("path", ["compiled", "torch"])
def test_nan_in_a_channel_wins_where_it_reaches(path: str) -> None:
    """A NaN logit propagates to the voxels that interpolate it, and there its class wins (numpy's
    and torch's argmax treat NaN as the maximum); elsewhere nothing changes."""
    working, native = geometry(3, False)
    x = np.random.default_rng(1).standard_normal((6, *working.shape)).astype(np.float32)
    x[3, 5, 5, 5] = np.nan
    with compiled.disabled() if path == "torch" else contextlib.nullcontext():
        labels, _ = warp_argmax(torch.from_numpy(x), working, native, WarpOptions.parse("linear", "border"))
    expected, best, _, _ = oracle(x, working, native, "border")
    reached = np.isnan(best)
    assert reached.sum() == 64  # the 4 x 4 x 4 native voxels whose cells have the NaN as a corner
    np.testing.assert_array_equal(labels[0].numpy(), expected)
    assert (labels[0].numpy()[reached] == 3).all()


def test_ties_go_to_the_smallest_class() -> None:
    space = Space((5, 6))
    base = torch.rand(5, 6, generator=torch.Generator().manual_seed(0))
    for target in (space.resize((10, 12)), space.rotate(0.4)):
        labels, _ = warp_argmax(torch.stack([base - 1, base, base, base]), space, target, WarpOptions.parse("linear", "border"))
        assert int((labels != 1).sum()) == 0


def test_cubic_equals_resampling_every_channel() -> None:
    """Cubic (negative weights: no pruning) runs the tiles with a running maximum; against every channel by
    the brute-force Keys cubic from the raw affines, then argmax (fill label 3 outside)."""
    working, native = geometry(3, True, seed=5)
    x = torch.from_numpy(np.random.default_rng(1).standard_normal((4, *working.shape)).astype(np.float32))
    options = WarpOptions.parse("cubic", "zeros", 3)
    labels, prob = warp_argmax(x, working, native, options, keep_prob=True)
    expected, best, gap, near_edge = cubic_oracle(x.numpy(), working, native, fill=3)
    assert (expected == 3).any() and (expected != 3).any()
    differ = (labels[0].numpy() != expected) & ~near_edge
    assert (gap[differ] < 1e-5).all(), f"{int(differ.sum())} voxels differ"
    assert prob is not None
    close = ~near_edge & (expected != 3)
    np.testing.assert_allclose(prob[0].numpy()[close], best[close], rtol=0, atol=1e-5)


def test_tiles_and_blocks_do_not_change_the_answer(monkeypatch) -> None:
    import monai_spacetx.engine.export as export

    working, native = geometry(3, True, seed=2)
    x = torch.from_numpy(np.random.default_rng(4).standard_normal((5, *working.shape)).astype(np.float32))
    whole, whole_prob = warp_argmax(x, working, native, keep_prob=True)
    monkeypatch.setattr(export, "TILE_VOXELS", 97)
    monkeypatch.setattr(export, "SCORE_BLOCK", 13)
    tiled, tiled_prob = warp_argmax(x, working, native, keep_prob=True)
    assert torch.equal(whole, tiled)
    assert whole_prob is not None and tiled_prob is not None
    torch.testing.assert_close(whole_prob, tiled_prob)


def test_label_dtype_holds_every_class_and_the_fill() -> None:
    assert label_dtype(2) == torch.uint8 and label_dtype(256) == torch.uint8
    assert label_dtype(257) == torch.int16 and label_dtype(3, fill=-1) == torch.int16
    assert label_dtype(40000) == torch.int32
    space = Space((3, 3))
    labels, prob = warp_argmax(torch.zeros((300, 3, 3)), space, space.resize((5, 5)))
    assert labels.dtype == torch.int16 and prob is None and int(labels.sum()) == 0


@pytest.mark.parametrize("path", ["compiled", "torch"])
@pytest.mark.parametrize("classes, fill", [(255, 0), (300, 7), (300, -1)])
def test_wide_codes_and_labels(classes: int, fill: int, path: str) -> None:
    """Past 254 classes the cell codes (class, K, K + 1) and the certified pairs no longer fit in a
    byte, past 256 neither do the labels; a negative fill label needs a signed dtype. Smooth logits
    (pure, certified and mixed cells) against the oracle, float64 channels."""
    working, native = geometry(3, True, seed=5)
    rng = np.random.default_rng(classes + fill)
    coarse = torch.from_numpy(rng.standard_normal((classes, 4, 4, 3)) * 3)
    x = torch.nn.functional.interpolate(coarse[None], size=working.shape, mode="trilinear", align_corners=False)[0].numpy()
    with compiled.disabled() if path == "torch" else contextlib.nullcontext():
        labels, expected = check_against_oracle(x, working, native, "zeros", fill=fill)
    assert labels.dtype == label_dtype(classes, fill)
    assert (labels == fill).any() and len(np.unique(expected)) > 3


def test_outside_the_working_grid_is_the_fill_label() -> None:
    space = Space((4, 4))
    far = Space((3, 3), origin=(100.0, 100.0))
    labels, prob = warp_argmax(torch.rand(3, 4, 4), space, far, WarpOptions.parse("linear", "zeros", 2), keep_prob=True)
    assert labels.tolist() == [[[2] * 3] * 3] and prob is not None and float(prob.abs().sum()) == 0.0


def test_bad_input_is_refused_with_our_errors() -> None:
    space = Space((4, 4))
    with pytest.raises(ModeError, match="argmax"):
        warp_argmax(torch.rand(3, 4, 4), space, space, WarpOptions.parse("nearest"))
    with pytest.raises(ModeError, match="argmax"):
        warp_argmax(torch.rand(3, 4, 4), space, space, WarpOptions.parse("label"))
    with pytest.raises(ModeError, match="whole number"):
        warp_argmax(torch.rand(3, 4, 4), space, space, WarpOptions.parse("linear", "zeros", 0.5))
    with pytest.raises(ShapeMismatchError, match="K, \\*spatial"):
        warp_argmax(torch.rand(4, 4), space, space)
    with pytest.raises(SpaceTypeError):
        warp_argmax(np.zeros((3, 4, 4)), space, space)  # type: ignore[arg-type]
    with pytest.raises(SpaceTypeError):
        warp_argmax(torch.zeros((3, 4, 4), dtype=torch.complex64), space, space)


def test_peak_memory_is_tiles_not_channels_times_native(tmp_path) -> None:
    """K = 64 channels onto a native grid of 144^3: ``K x native`` float32 would be 729 MiB; the export's
    peak beyond its input and output (tile and scoring-block temporaries, a few bytes per working voxel)
    stays under a tenth of that and under 64 MiB, whatever the native size (measured in a child process)."""
    script = textwrap.dedent(
        """
        import torch
        from pathlib import Path
        from monai_spacetx import Space
        from monai_spacetx.engine.export import warp_argmax
        torch.set_num_threads(1)
        working = Space((24, 24, 24), spacing=(2.0, 2.0, 2.0))
        native = working.resize((144, 144, 144))
        coarse = torch.randn((64, 4, 4, 4), generator=torch.Generator().manual_seed(0)) * 4
        x = torch.nn.functional.interpolate(coarse[None], size=working.shape, mode="trilinear")[0].contiguous()
        warp_argmax(x[:, :4, :4, :4], Space((4, 4, 4)), Space((6, 6, 6)))  # warm up torch's first-call allocations
        def rss(field):
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        before = rss("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")
        labels, _ = warp_argmax(x, working, native)
        print("EXTRA", rss("VmHWM") - before - labels.nbytes)
        """
    )
    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("needs Linux /proc to reset the peak resident size")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    extra = int(out.stdout.split("EXTRA")[1])
    dense = 64 * 144**3 * 4
    assert extra < min(dense / 10, 64 * 2**20), (extra / 2**20, dense / 2**20)


# ----------------------------------------------------------------------------- the transforms
def _pipeline_case(oblique: bool = False):
    """A native image, its working grid by SpaceResampled, and 5-class logits on that grid."""
    from monai.data import MetaTensor

    from monai_spacetx import SpaceResampled

    native = Space((30, 26, 20), spacing=(0.8, 0.8, 1.0), origin=(-10.0, 4.0, 7.0))
    if oblique:
        native = native.rotate((0.2, 0.1, -0.3))
    image = MetaTensor(torch.rand((1, *native.shape)), affine=torch.as_tensor(native.to_monai_affine()))
    data = SpaceResampled(keys="image", pixdim=(1.5, 1.5, 1.5), mode="bilinear")({"image": image})
    working = Space.from_metatensor(data["image"])
    coarse = torch.randn((5, 3, 3, 3), generator=torch.Generator().manual_seed(1)) * 4
    data["pred"] = torch.nn.functional.interpolate(coarse[None], size=working.shape, mode="trilinear")[0]
    return data, native, working


@pytest.mark.parametrize("oblique", [False, True], ids=["axis-aligned", "oblique"])
def test_space_invertd_argmax_replaces_invertd_and_asdiscreted(oblique: bool) -> None:
    from monai.data import MetaTensor

    from monai_spacetx import SpaceInvertd

    data, native, working = _pipeline_case(oblique)
    out = SpaceInvertd(keys="pred", orig_keys="image", argmax=True, keep_prob=True)(dict(data))
    labels, prob = out["pred"], out["pred_prob"]
    assert isinstance(labels, MetaTensor) and labels.shape == (1, *native.shape) and labels.dtype == torch.uint8
    assert isinstance(prob, MetaTensor) and prob.shape == labels.shape and prob.dtype == torch.float32
    assert Space.from_metatensor(labels) == native and Space.from_metatensor(prob) == native
    assert labels.applied_operations == []
    expected, best, gap, near_edge = oracle(data["pred"].numpy(), working, native)
    differ = (labels[0].numpy() != expected) & ~near_edge
    assert (gap[differ] < TIE).all()
    # what it replaces: all channels mapped back (linear), then the argmax
    channels = SpaceInvertd(keys="pred", orig_keys="image", nearest_interp=False)(dict(data))["pred"]
    assert torch.equal(labels.as_tensor().long(), channels.as_tensor().argmax(0, keepdim=True))


def test_space_invertd_argmax_arguments() -> None:
    from monai_spacetx import SpaceInvert, SpaceInvertd

    data, native, working = _pipeline_case()
    # nearest_interp (MONAI's default True) does not apply to argmax: the channels are interpolated linearly
    default = SpaceInvertd(keys="pred", orig_keys="image", argmax=True)(dict(data))["pred"]
    linear = SpaceInvertd(keys="pred", orig_keys="image", argmax=True, nearest_interp=False, mode="bilinear")(dict(data))["pred"]
    assert torch.equal(default, linear) and "pred_prob" not in SpaceInvertd(keys="pred", orig_keys="image", argmax=True)(dict(data))
    expected, _, gap, near_edge = oracle(data["pred"].numpy(), working, native)  # linear, from the raw affines
    assert ((default[0].numpy() != expected) & ~near_edge & (gap >= TIE)).sum() == 0
    cubic = SpaceInvertd(keys="pred", orig_keys="image", argmax=True, mode="bicubic")(dict(data))["pred"]
    expected, _, gap, near_edge = cubic_oracle(data["pred"].numpy(), working, native)  # bicubic is Keys' cubic, not linear
    assert cubic.shape == default.shape and ((cubic[0].numpy() != expected) & ~near_edge & (gap >= 1e-5)).sum() == 0
    assert bool((cubic != default).any())  # the two exports differ somewhere: bicubic was not ignored
    # the array form returns (labels, prob) with keep_prob
    labels, prob = SpaceInvert(argmax=True, keep_prob=True)(data["pred"], data["image"])
    assert torch.equal(labels, default) and prob.shape == labels.shape
    for bad in (dict(mode="nearest"), dict(mode="label"), dict(mode=0)):
        with pytest.raises(ModeError, match="argmax=True for key 'pred'"):
            SpaceInvertd(keys="pred", argmax=True, **bad)
    with pytest.raises(ModeError, match="keep_prob=True"):
        SpaceInvertd(keys="pred", keep_prob=True)
    with pytest.raises(ModeError, match="argmax"):
        SpaceInvert(argmax=True, mode="nearest")
    with pytest.raises(ModeError, match="argmax for key 'pred' must be True or False"):
        SpaceInvertd(keys="pred", argmax="yes")


def test_asdiscreted_argmax_after_the_export_makes_everything_class_0() -> None:
    """The README's warning: the export already is the argmax (one channel); AsDiscreted(argmax=True) on it gives 0 everywhere."""
    from monai.transforms import AsDiscreted

    from monai_spacetx import SpaceInvertd

    data, _, _ = _pipeline_case()
    out = SpaceInvertd(keys="pred", orig_keys="image", argmax=True)(dict(data))
    assert int(out["pred"].max()) > 0
    again = AsDiscreted(keys="pred", argmax=True)(out)["pred"]
    assert int(again.max()) == 0


def test_bundle_config_uses_argmax() -> None:
    from monai.bundle import ConfigParser

    from monai_spacetx import SpaceInvertd

    parser = ConfigParser({"post": {"_target_": "monai_spacetx.SpaceInvertd", "keys": "pred", "orig_keys": "image", "argmax": True}})
    post = parser.get_parsed_content("post")
    assert isinstance(post, SpaceInvertd)
    data, native, working = _pipeline_case()
    out = post(dict(data))["pred"]
    assert out.shape == (1, *native.shape) and Space.from_metatensor(out) == native
    expected, _, gap, near_edge = oracle(data["pred"].numpy(), working, native)  # the argmax export, by brute force
    assert ((out[0].numpy() != expected) & ~near_edge & (gap >= TIE)).sum() == 0


def test_check_command_reports_the_round_trip_through_probabilities(capsys) -> None:
    from monai_spacetx.cli import main

    status = main(["check", "--quiet", "--no-monai", "--probabilities", "--example", "anatomical.nii", "--roi", "4", "4", "4", "28", "36", "20", "--spacing", "1.5"])
    out = capsys.readouterr().out
    assert status == 0
    line = next(ln for ln in out.splitlines() if "back as probabilities" in ln)
    label_line = next(ln for ln in out.splitlines() if "back with mode='label'" in ln)
    wrong = int(line.split()[3])
    assert wrong < int(label_line.split()[3])  # probabilities keep what the argmax taken first loses
    assert "SpaceInvertd(argmax=True)" in out


def test_compare_roundtrip_probabilities_are_optional() -> None:
    from monai_spacetx.compare import compare_roundtrip, example_scan
    from monai.transforms import LoadImaged

    data = LoadImaged(keys="image", ensure_channel_first=True, image_only=True)({"image": str(example_scan("anatomical.nii"))})
    data["label"] = (data["image"] > 8000).to(torch.uint8)
    plain = compare_roundtrip(dict(data), size=(20, 24, 16), with_monai=False)
    soft = compare_roundtrip(dict(data), size=(20, 24, 16), with_monai=False, probabilities=True)
    assert plain.results[0].probabilities is None
    score = soft.results[0].probabilities
    assert score is not None and score.dice_inside > 0.9 and score.wrong_outside == soft.results[0].score.wrong_outside


def test_export_benchmark_smoke(monkeypatch) -> None:
    """``benchmarks/bench_export.py`` on a tiny grid: every child runs, ours and "all channels, then argmax" agree."""
    import runpy
    from pathlib import Path

    benchmarks = Path(__file__).resolve().parents[1] / "benchmarks"
    monkeypatch.syspath_prepend(str(benchmarks))
    threads = torch.get_num_threads()
    try:
        bench = runpy.run_path(str(benchmarks / "bench_export.py"))
        methods = ["ours argmax", "ours all, then argmax", "MONAI Invertd+AsDiscreted", "label on argmax first"]
        results = bench["main"](["--native", "40", "36", "30", "--classes", "6", "--repeats", "1", "--threads", "1", "--methods", *methods])
    finally:
        torch.set_num_threads(threads)
    rows = results[6]
    assert all(rows[m]["status"] == "ok" for m in methods), {m: rows[m]["status"] for m in methods}
    assert rows["ours all, then argmax"]["differ"] == 0 and rows["MONAI Invertd+AsDiscreted"]["differ"] == 0
    assert rows["label on argmax first"]["alone"] and rows["ours argmax"]["maxrss"] > 0
