"""Bridges between :class:`Space` and nibabel / SimpleITK images.

World coordinates in monai-spacetx are MONAI's: RAS for MONAI's readers, which is also
nibabel's frame. ITK, SimpleITK and DICOM use LPS; the sign flip of the first two world
axes happens here and nowhere else.

Index order: a SimpleITK image is described in ITK index order ``(i, j, k)``, which is the
layout MONAI's ``ITKReader`` produces (``reverse_indexing=True``) and the transpose of
``sitk.GetArrayFromImage``. SimpleITK is an optional extra and imported lazily.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ShapeMismatchError, SpaceError, SpaceTypeError
from .geometry.space import Space

__all__ = ["space_from_nifti", "to_nifti", "space_from_sitk", "to_sitk", "lps_ras_flip"]


def lps_ras_flip(ndim: int) -> np.ndarray:
    """``(D+1, D+1)`` matrix that negates the first two world axes (LPS ↔ RAS, its own inverse).

    Example:
        >>> lps_ras_flip(2)
        array([[-1.,  0.,  0.],
               [ 0., -1.,  0.],
               [ 0.,  0.,  1.]])
    """
    if not isinstance(ndim, (int, np.integer)) or isinstance(ndim, bool) or ndim not in (2, 3):
        raise SpaceError(f"ndim must be 2 or 3, got {ndim!r}")
    flip = np.eye(ndim + 1)
    flip[0, 0] = flip[1, 1] = -1.0
    return flip


def space_from_nifti(img: Any) -> Space:
    """The Space of a nibabel spatial image: its ``affine`` and first 2 or 3 axes of its shape."""
    if not hasattr(img, "affine") or not hasattr(img, "shape"):
        raise SpaceTypeError(f"expected a nibabel image with .affine and .shape, got {type(img).__name__}")
    spatial = tuple(img.shape[:3]) if len(img.shape) >= 3 else tuple(img.shape)
    if img.affine is None:
        raise SpaceTypeError("the nibabel image has no affine")
    return Space.from_affine(np.asarray(img.affine, dtype=np.float64), spatial)


def to_nifti(data: Any, space: Space) -> Any:
    """A ``nibabel.Nifti1Image`` of ``data`` (spatial axes first) whose affine is ``space``'s.

    ``data``: a numpy array or torch tensor (any device). dtypes NIfTI has no code for are
    stored losslessly: ``bool`` (a mask) as ``uint8`` 0/1, ``float16`` as ``float32``;
    ``int64``/``uint64`` (torch's label dtype) as ``int32`` when the values fit, else as they are.

    Raises:
        SpaceTypeError: ``space`` is not a Space, or ``data`` is not numeric.
        ShapeMismatchError: ``data``'s leading axes are not ``space.shape``.
    """
    import nibabel as nib

    _check_space(space)
    array = _numeric_array(data)
    if tuple(array.shape[: space.ndim]) != space.shape:
        raise ShapeMismatchError(f"data of shape {array.shape} does not start with the space's shape {space.shape}")
    dtype = array.dtype
    if array.dtype.kind in "iu" and array.dtype.itemsize == 8:
        small = array.size == 0 or (int(array.min()) >= np.iinfo(np.int32).min and int(array.max()) <= np.iinfo(np.int32).max)
        array = array.astype(np.int32) if small else array
        dtype = array.dtype
    return nib.Nifti1Image(array, space.to_monai_affine(), dtype=dtype)


def _numeric_array(data: Any) -> np.ndarray:
    """``data`` (numpy array, torch tensor or nested sequence) as a numeric numpy array in native byte order.

    ``bool`` becomes ``uint8`` and ``float16`` ``float32`` (neither NIfTI nor SimpleITK stores them; both are lossless).
    """
    if hasattr(data, "detach") and hasattr(data, "cpu"):  # a torch tensor or MONAI MetaTensor, on any device
        data = data.detach().cpu().numpy()
    try:
        array = np.asarray(data)
    except (TypeError, ValueError) as err:
        raise SpaceTypeError(f"data must be a numeric array, got {type(data).__name__}") from err
    if array.dtype.kind not in "biufc":
        raise SpaceTypeError(f"data must be a numeric array, got {type(data).__name__} of dtype {array.dtype}")
    if array.dtype.kind == "b":
        return array.astype(np.uint8)
    if array.dtype.kind == "f" and array.dtype.itemsize == 2:
        return array.astype(np.float32)
    return array.astype(array.dtype.newbyteorder("="), copy=False)


def _check_space(space: Any) -> None:
    if not isinstance(space, Space):
        raise SpaceTypeError(f"space must be a Space, got {type(space).__name__}")


def _sitk() -> Any:
    try:
        import SimpleITK as sitk
    except ImportError as err:  # pragma: no cover - exercised where SimpleITK is absent
        raise ImportError(
            "SimpleITK is needed for this function: pip install 'monai-spacetx[interop]'"
        ) from err
    return sitk


def space_from_sitk(img: Any) -> Space:
    """The Space of a SimpleITK image, in ITK index order with a RAS world frame."""
    sitk = _sitk()
    if not isinstance(img, sitk.Image):
        raise SpaceTypeError(f"expected a SimpleITK.Image, got {type(img).__name__}")
    ndim = img.GetDimension()
    if ndim not in (2, 3):
        raise ShapeMismatchError(f"only 2-D and 3-D SimpleITK images have a Space, got a {ndim}-D image")
    direction = np.array(img.GetDirection(), dtype=np.float64).reshape(ndim, ndim)
    lps = np.eye(ndim + 1)
    lps[:ndim, :ndim] = direction * np.array(img.GetSpacing(), dtype=np.float64)
    lps[:ndim, ndim] = img.GetOrigin()
    return Space.from_affine(lps_ras_flip(ndim) @ lps, tuple(int(n) for n in img.GetSize()))


def to_sitk(data: Any, space: Space) -> Any:
    """A SimpleITK image of ``data`` laid out on ``space`` (ITK index order, spatial shape only).

    ``data``: a numpy array or torch tensor (any device); ``bool`` is stored as ``uint8``,
    ``float16`` as ``float32`` (SimpleITK has neither), big-endian arrays in native order.
    """
    sitk = _sitk()
    _check_space(space)
    array = _numeric_array(data)
    if tuple(array.shape) != space.shape:
        raise ShapeMismatchError(f"data of shape {array.shape} does not match the space's shape {space.shape}")
    img = sitk.GetImageFromArray(np.ascontiguousarray(np.transpose(array)))
    lps = lps_ras_flip(space.ndim) @ space.affine
    img.SetSpacing([float(s) for s in space.spacing])
    img.SetOrigin([float(o) for o in lps[: space.ndim, space.ndim]])
    img.SetDirection([float(d) for d in (lps[: space.ndim, : space.ndim] / space.spacing).ravel()])
    return img
