"""The tutorials' one sample loader: real scans that ship inside nibabel (no download).

``monai_spacetx.compare.example_scan`` finds the files with ``importlib.resources``; nothing
from nibabel's test helpers (which need pytest) is imported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from monai_spacetx.compare import example_scan

__all__ = ["example_scan", "epi_volume"]


def epi_volume(out_dir: Path, volume: int = 0) -> Path:
    """Write one volume of nibabel's ``example4d.nii.gz`` as a 3-D NIfTI file; return its path.

    The series is an oblique EPI (fMRI) acquisition: 128 x 96 x 24 voxels of 2 x 2 x 2.2 mm,
    axes L-A-S, tilted about the first axis. The file keeps the series' affine (sform and qform).
    """
    import nibabel as nib

    series = nib.load(str(example_scan("example4d.nii.gz")))
    path = Path(out_dir) / f"epi_volume{volume}.nii.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.asarray(series.dataobj[..., volume]), series.affine), str(path))
    return path
