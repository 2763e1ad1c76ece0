"""Which MONAI transform each Space transform stands in for: the package's one table of counterparts.

``monai-spacetx migrate`` rewrites a bundle config's ``_target_`` with it; the docs and tests read
it from here. A pair is listed only when both classes exist in the installed versions: MONAI's
name in :mod:`monai.transforms`, ours in :mod:`monai_spacetx` (or :mod:`monai_spacetx.transforms`
and its modules, for transforms that are not exported at the top yet), so a counterpart appears
in :func:`counterparts` the day it lands and a MONAI release without the class drops the pair.

Each of ours takes the MONAI transform's arguments by the same names and in the same positional
order (``docs/monai_dialect.md`` lists where a value is read differently), so renaming
``_target_`` keeps every argument.
"""

from __future__ import annotations

import importlib
from typing import Any, Optional

__all__ = ["COUNTERPARTS", "counterparts", "our_class", "our_target"]

#: MONAI transform name -> ours, both forms. Entries whose class is missing on either side are
#: left out by :func:`counterparts` (the crop samplers land in ``transforms/sampling.py``).
COUNTERPARTS: dict[str, str] = {
    "Spacing": "SpaceSpacing",
    "Spacingd": "SpaceSpacingd",
    "Resize": "SpaceResize",
    "Resized": "SpaceResized",
    "Zoom": "SpaceZoom",
    "Zoomd": "SpaceZoomd",
    "SpatialCrop": "SpaceCrop",
    "SpatialCropd": "SpaceCropd",
    "CropForeground": "SpaceCropForeground",
    "CropForegroundd": "SpaceCropForegroundd",
    "Invert": "SpaceInvert",
    "Invertd": "SpaceInvertd",
    "ApplyPending": "SpaceApplyPending",
    "ApplyPendingd": "SpaceApplyPendingd",
    "RandCropByPosNegLabel": "SpaceRandCropByPosNegLabel",
    "RandCropByPosNegLabeld": "SpaceRandCropByPosNegLabeld",
    "RandCropByLabelClasses": "SpaceRandCropByLabelClasses",
    "RandCropByLabelClassesd": "SpaceRandCropByLabelClassesd",
    "RandWeightedCrop": "SpaceRandWeightedCrop",
    "RandWeightedCropd": "SpaceRandWeightedCropd",
}

#: Where ours may live, tried in this order; the first that has the name gives the ``_target_``.
_OUR_MODULES = ("monai_spacetx", "monai_spacetx.transforms", "monai_spacetx.transforms.sampling")


def our_target(name: str) -> Optional[str]:
    """The dotted ``_target_`` of our transform ``name`` (``"monai_spacetx.SpaceSpacingd"``), or ``None`` if it does not exist."""
    for module_name in _OUR_MODULES:  # all ours: an ImportError here is a broken install, raised as it is
        module = importlib.import_module(module_name)
        if isinstance(getattr(module, name, None), type):
            return f"{module_name}.{name}"
    return None


def our_class(name: str) -> Optional[type]:
    """Our transform class ``name``, or ``None`` if it does not exist (yet)."""
    target = our_target(name)
    if target is None:
        return None
    module_name, _, attribute = target.rpartition(".")
    found: Any = getattr(importlib.import_module(module_name), attribute)
    return found if isinstance(found, type) else None


def counterparts() -> dict[str, str]:
    """MONAI name -> the dotted ``_target_`` of ours, for the pairs that exist in the installed versions."""
    import monai.transforms

    found: dict[str, str] = {}
    for theirs, ours in COUNTERPARTS.items():
        target = our_target(ours)
        if target is not None and isinstance(getattr(monai.transforms, theirs, None), type):
            found[theirs] = target
    return found
