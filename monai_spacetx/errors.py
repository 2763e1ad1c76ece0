"""Exception types raised by monai-spacetx.

Every error is a subclass of :class:`ValueError` or :class:`TypeError`, so code that
already guards MONAI calls with those keeps working; catch :class:`SpaceTxError` to
handle only ours.
"""

from __future__ import annotations

__all__ = [
    "SpaceTxError",
    "SpaceError",
    "EmptyBoxError",
    "ShapeMismatchError",
    "PointsError",
    "ModeError",
    "MetadataError",
    "SpaceTypeError",
    "SpaceTxWarning",
]


class SpaceTxError(Exception):
    """Base class of every exception raised by monai-spacetx."""


class SpaceError(SpaceTxError, ValueError):
    """A sampling grid is invalid: bad shape, spacing, origin, direction or affine."""


class EmptyBoxError(SpaceError):
    """An index or world box is empty or inverted."""


class ShapeMismatchError(SpaceTxError, ValueError):
    """A tensor's shape does not agree with the Space it is said to live on."""


class PointsError(SpaceTxError, ValueError):
    """Landmark arrays of the wrong shape or with non-finite coordinates."""


class ModeError(SpaceTxError, ValueError):
    """An unknown interpolation mode, padding mode, alignment or coordinate system."""


class MetadataError(SpaceTxError, ValueError):
    """Metadata lacks the geometry needed to plan or to map back."""


class SpaceTypeError(SpaceTxError, TypeError):
    """An argument has a type the entry point cannot handle."""


class SpaceTxWarning(UserWarning):
    """A result rests on an assumption the caller should know about (MONAI's documented default,
    e.g. the identity affine of an image loaded without one); given once per process and cause."""
