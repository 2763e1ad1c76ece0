"""Independent references for the tests: brute force from raw affines, written here, using none of the package.

Every function takes plain index->world affines (``(D+1, D+1)``, or MONAI's 4x4 for a 2-D image)
and numpy arrays, maps each target voxel centre to the source by ``inv(source) @ target`` and
samples there, one voxel at a time in vectorised numpy. The rules are the documented ones
(docs/conventions.md section 4): voxel centres at integers, nearest takes ``floor(x + 0.5)``
with ties (to 1e-9 voxel) going to the higher index, linear is multilinear with taps clamped to
the grid (``border``), cubic is Keys' convolution with ``A = -0.75`` (torch's bicubic) with tap
indices clamped. The tests compare the package with these, never with itself.

Not collected by pytest (no ``test_`` prefix); the tests import it as ``from oracles import ...``.
"""

from __future__ import annotations

import itertools

import numpy as np


def affine_of(x, ndim: int) -> np.ndarray:
    """A ``(ndim+1, ndim+1)`` float64 affine from a MetaTensor (its ``.affine``), a tensor or an array."""
    a = getattr(x, "affine", x)
    a = np.asarray(a.detach().cpu().numpy() if hasattr(a, "detach") else a, dtype=np.float64)
    if a.shape[0] == ndim + 1:
        return a
    keep = list(range(ndim)) + [a.shape[0] - 1]  # MONAI's 4x4 form of a 2-D affine
    return a[np.ix_(keep, keep)]


def source_coordinates(source_affine, target_affine, target_shape) -> np.ndarray:
    """``(D, N)`` continuous source indices of every target voxel centre (C order)."""
    ndim = len(target_shape)
    m = np.linalg.inv(affine_of(source_affine, ndim)) @ affine_of(target_affine, ndim)
    grid = np.indices(tuple(target_shape)).reshape(ndim, -1).astype(np.float64)
    x = m[:ndim, :ndim] @ grid + m[:ndim, ndim:]
    half = np.round(2.0 * x) / 2.0  # the documented snap: within 1e-9 voxel of a half-integer is on it
    return np.where(np.abs(x - half) <= 1e-9, half, x)


def nearest(values: np.ndarray, source_affine, target_affine, target_shape, fill=0, padding: str = "zeros") -> np.ndarray:
    """Each target voxel takes the source voxel whose box ``[i - 0.5, i + 0.5)`` holds its centre.

    ``padding``: ``"zeros"`` gives ``fill`` outside the field of view ``[-0.5, n - 0.5]`` (edges
    included: a centre exactly on the far edge takes the edge voxel), ``"border"`` clamps the
    index, ``"reflection"`` mirrors it about the voxel edges.
    """
    values = np.asarray(values)
    shape = np.array(values.shape)[:, None]
    x = source_coordinates(source_affine, target_affine, target_shape)
    index = np.floor(x + 0.5).astype(np.int64)  # ties (snapped to 1e-9 voxel) go up
    if padding == "reflection":
        index = np.mod(index, 2 * shape)
        index = np.where(index >= shape, 2 * shape - 1 - index, index)
    inside = np.all((x >= -0.5) & (x <= shape - 0.5), axis=0) if padding == "zeros" else np.ones(x.shape[1], bool)
    index = np.clip(index, 0, shape - 1)
    out = np.full(index.shape[1], fill, dtype=values.dtype)
    out[inside] = values[tuple(index[:, inside])]
    return out.reshape(tuple(target_shape))


def _keys(d: np.ndarray, a: float = -0.75) -> np.ndarray:
    d = np.abs(d)
    return np.where(
        d <= 1, ((a + 2) * d - (a + 3)) * d * d + 1, np.where(d < 2, ((a * d - 5 * a) * d + 8 * a) * d - 4 * a, 0.0)
    )


def _reflect_index(i: np.ndarray, n: int) -> np.ndarray:
    i = np.mod(i, 2 * n)
    return np.where(i >= n, 2 * n - 1 - i, i)


def interpolate(
    values: np.ndarray, source_affine, target_affine, target_shape, order: int = 1, padding: str = "border", fill: float = 0.0
) -> np.ndarray:
    """Multilinear (``order=1``) or Keys cubic (``order=3``, ``A = -0.75``).

    ``padding``: ``"border"`` clamps the taps to the grid; ``"reflection"`` mirrors about the
    voxel edges ``-0.5`` and ``n - 0.5`` (linear: the coordinate, cubic: each tap index);
    ``"zeros"``: a voxel whose centre lies outside the field of view ``[-0.5, n - 0.5]`` on
    some axis takes ``fill``, inside the taps are clamped as for border.
    """
    values = np.asarray(values, dtype=np.float64)
    shape = np.array(values.shape)
    x = source_coordinates(source_affine, target_affine, target_shape)
    if order == 1:
        x_used = x
        if padding == "reflection":
            y = np.mod(x + 0.5, 2.0 * shape[:, None])
            x_used = np.where(y > shape[:, None], 2.0 * shape[:, None] - y, y) - 0.5
        x_used = np.clip(x_used, 0, (shape - 1)[:, None])  # clamping the coordinate = clamping both taps
        offsets: tuple[int, ...] = (0, 1)
    else:
        x_used = x
        offsets = (-1, 0, 1, 2)
    base = np.floor(x_used).astype(np.int64)
    t = x_used - base
    out = np.zeros(x.shape[1])
    for combo in itertools.product(offsets, repeat=len(shape)):
        weight = np.ones(x.shape[1])
        index = []
        for k, o in enumerate(combo):
            if order == 1:
                weight = weight * (1 - t[k] if o == 0 else t[k])
            else:
                weight = weight * _keys(t[k] - o)
            i = base[k] + o
            if padding == "reflection" and order != 1:
                i = _reflect_index(i, int(shape[k]))
            index.append(np.clip(i, 0, shape[k] - 1))
        out += weight * values[tuple(index)]
    if padding == "zeros":
        outside = ~np.all((x >= -0.5) & (x <= (shape - 0.5)[:, None]), axis=0)
        out[outside] = fill
    return out.reshape(tuple(target_shape))


def label_vote(values: np.ndarray, source_affine, target_affine, target_shape, padding: str = "border", fill=0) -> np.ndarray:
    """``mode="label"`` by its definition: per-class multilinear interpolation, argmax, ties to the smaller label."""
    values = np.asarray(values)
    classes = np.unique(values)
    probs = np.stack([interpolate(values == c, source_affine, target_affine, target_shape, 1, padding, -1.0) for c in classes])
    out = classes[np.argmax(probs, axis=0)].astype(values.dtype)  # argmax takes the first maximum: the smaller label
    if padding == "zeros":
        out[probs.max(axis=0) < 0] = fill
    return out


def wrong(a, b) -> int:
    """How many voxels differ (any containers with ``.numpy()`` or arrays), after squeezing a channel axis."""
    a = np.asarray(a.detach().cpu().numpy() if hasattr(a, "detach") else a)
    b = np.asarray(b.detach().cpu().numpy() if hasattr(b, "detach") else b)
    assert a.size == b.size, (a.shape, b.shape)
    return int((a.reshape(b.shape) != b).sum())


def label_vote_violations(ours: np.ndarray, values: np.ndarray, source_affine, target_affine, target_shape, padding: str = "border", fill=0) -> int:
    """How many voxels of ``ours`` break ``mode="label"``'s definition (0 is right).

    A voxel is right when it holds the class of highest interpolated one-hot probability,
    the smaller label on an exact tie (the two probabilities equal in float64). Where the best
    classes differ by less than 1e-9 without being equal, float64 round-off of the sums
    (``0.4 * 2/3 + 0.4 / 3`` vs ``0.6 * 2/3``) decides which is higher, so any class within
    1e-9 of the best is right there; any other class is wrong. Outside the field of view (``zeros``): ``fill``.
    """
    values, ours = np.asarray(values), np.asarray(ours).reshape(tuple(target_shape))
    classes = np.unique(values)
    probs = np.stack([interpolate(values == c, source_affine, target_affine, target_shape, 1, padding, -1.0) for c in classes])
    best = probs.max(axis=0)
    expected = classes[np.argmax(probs, axis=0)]
    outside = best < 0
    near = probs >= best - 1e-9
    ambiguous = (near & (probs != best)).any(axis=0)  # a class within round-off of the best, not tied exactly
    chosen = np.searchsorted(classes, ours)
    known = (chosen < len(classes)) & (classes[np.minimum(chosen, len(classes) - 1)] == ours)
    chosen_prob = np.take_along_axis(probs, np.minimum(chosen, len(classes) - 1)[None], axis=0)[0]
    ok = np.where(ambiguous, known & (chosen_prob >= best - 1e-9), ours == expected)
    ok = np.where(outside, ours == fill, ok)
    return int((~ok).sum())


def gaussian_smoothed(values: np.ndarray, sigmas, padding: str = "border") -> np.ndarray:
    """``values`` convolved along each axis with the voxel-integrated Gaussian of ``sigmas[k]`` voxels.

    The kernel is MONAI's ``GaussianFilter(approx="erf")`` by its definition: ``erf`` differences over
    each voxel, truncated at ``int(max(4 sigma, 0.5) + 0.5)`` voxels, normalised to sum 1; beyond
    the grid the edge voxel repeats (``border``, ``zeros``) or the grid mirrors about its voxel edges
    (``reflection``). Written with scipy's ``correlate1d`` and ``erf``, none of the package.
    """
    from scipy.ndimage import correlate1d
    from scipy.special import erf

    out = np.asarray(values, dtype=np.float64)
    for axis, sigma in enumerate(sigmas):
        if sigma <= 0:
            continue
        radius = int(max(4.0 * sigma, 0.5) + 0.5)
        edges = (np.arange(-radius, radius + 2) - 0.5) / (sigma * np.sqrt(2.0))
        kernel = np.diff(0.5 * erf(edges))
        out = correlate1d(out, kernel / kernel.sum(), axis=axis, mode="reflect" if padding == "reflection" else "nearest")
    return out
