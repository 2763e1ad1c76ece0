"""The ``io`` extra: ``monai-spacetx check`` on an NRRD file and on a DICOM series folder.

Both inputs are written here, small, with the format's own library (pynrrd, pydicom). The
oracle for the geometry is the format's own definition, computed by hand from what was written:
NRRD's ``space directions`` / ``space origin`` (LPS) and DICOM's image plane equation (PS3.3
C.7.6.2.1.1: ``P = IPP + i * column spacing * row cosine + j * row spacing * column cosine``),
turned to MONAI's RAS by negating x and y. The intensities are compared voxel by voxel with the
arrays written.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

nrrd = pytest.importorskip("nrrd", reason="the io extra (pynrrd) is not installed")
pydicom = pytest.importorskip("pydicom", reason="the io extra (pydicom) is not installed")

from monai_spacetx.cli import main  # noqa: E402
from monai_spacetx.cli.inputs import read_image  # noqa: E402

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def _blob(shape: tuple[int, ...]) -> np.ndarray:
    """An ellipsoid of 300 on 0 with a gradient, so that both the label and the values mean something."""
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij"), -1)
    inside = (((grid - (np.array(shape) - 1) / 2) / (np.array(shape) * 0.3)) ** 2).sum(-1) <= 1
    return (inside * 300 + grid[..., 0] * 2 + grid[..., 1]).astype(np.int16)


def _check_output(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    status = main(["check", "--quiet", *argv])
    out, err = capsys.readouterr()
    assert status == 0, (out, err)
    return out


def _image_line(out: str) -> tuple[tuple[int, ...], list[float], str]:
    """``shape (..), spacing [..] mm, axes XYZ`` as ``check`` prints it under ``image``."""
    found = re.search(r"shape \(([\d, ]+)\), spacing \[([\d., ]+)\] mm, axes (\w+)", out)
    assert found, out
    shape = tuple(int(v) for v in found.group(1).split(","))
    return shape, [float(v) for v in found.group(2).split(",")], found.group(3)


def _ours_wrong_inside(out: str) -> int:
    found = re.search(r"wrong voxels inside grid\s+(\d+)", out)
    assert found, out
    return int(found.group(1))


# ----------------------------------------------------------------------------- NRRD
def test_check_reads_an_nrrd_file_with_its_lps_geometry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _blob((14, 12, 8))
    c, s = np.cos(0.2), np.sin(0.2)
    # columns: the world step of index axes 0, 1, 2 in LPS; axis 0 points to the patient's right
    directions = np.array([[-c, s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]).T * np.array([1.5, 1.0, 2.0])
    origin = np.array([30.0, -12.0, 45.0])
    header = {"space": "left-posterior-superior", "space directions": directions.T, "space origin": origin}
    path = tmp_path / "scan.nrrd"
    nrrd.write(str(path), data, header, index_order="F")

    image = read_image("image", path)
    assert tuple(image.shape) == (1, 14, 12, 8)
    np.testing.assert_array_equal(image[0].numpy(), data.astype(np.float32))
    expected = np.eye(4)
    expected[:3, :3], expected[:3, 3] = LPS_TO_RAS @ directions, LPS_TO_RAS @ origin
    np.testing.assert_allclose(image.affine.numpy(), expected, atol=1e-9)

    out = _check_output([str(path), "--spacing", "0.75", "--no-monai"], capsys)
    shape, spacing, axes = _image_line(out)
    assert shape == (14, 12, 8)
    np.testing.assert_allclose(spacing, [1.5, 1.0, 2.0], atol=1e-6)
    # LPS (-c, s, 0) is RAS (c, -s, 0): axis 0 runs to the right; LPS (s, c, 0) is RAS (-s, -c, 0): axis 1 to posterior
    assert axes == "RPS"
    assert _ours_wrong_inside(out) == 0  # a finer working grid: the exact round trip (conventions, rule 5)


# ----------------------------------------------------------------------------- DICOM series
def _write_series(folder: Path, volume: np.ndarray, spacing: tuple[float, float, float], row_cos: np.ndarray,
                  col_cos: np.ndarray, first: np.ndarray) -> None:
    """One CT slice a file; ``volume[k]`` is slice ``k`` as DICOM stores it: ``(rows, columns)``."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    normal = np.cross(row_cos, col_cos)
    series, study, frame = generate_uid(), generate_uid(), generate_uid()
    row_spacing, col_spacing, slice_spacing = spacing
    for k, plane in enumerate(volume):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.preamble = b"\0" * 128
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.PatientName, ds.PatientID = "CT", "Test^Series", "0"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [float(v) for v in first + k * slice_spacing * normal]
        ds.ImageOrientationPatient = [float(v) for v in (*row_cos, *col_cos)]
        ds.PixelSpacing = [row_spacing, col_spacing]  # DICOM: the spacing between rows, then between columns
        ds.SliceThickness = slice_spacing
        ds.Rows, ds.Columns = plane.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = 0, 1
        ds.PixelData = np.ascontiguousarray(plane, dtype="<i2").tobytes()
        path = folder / f"slice_{len(volume) - k:03d}.dcm"  # file names run against the slice order
        if int(pydicom.__version__.split(".")[0]) >= 3:
            pydicom.dcmwrite(path, ds, enforce_file_format=True)
        else:
            ds.is_little_endian, ds.is_implicit_VR = True, False
            pydicom.dcmwrite(str(path), ds, write_like_original=False)


def test_check_reads_a_dicom_series_folder_with_the_image_plane_geometry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows, columns, slices = 10, 12, 6
    volume = _blob((slices, rows, columns))  # volume[k, j, i]: slice k, row j, column i
    row_cos, col_cos = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    spacing = (0.8, 0.7, 2.5)  # between rows, between columns, between slices
    first = np.array([-40.0, -25.0, 110.0])
    folder = tmp_path / "series"
    folder.mkdir()
    _write_series(folder, volume, spacing, row_cos, col_cos, first)

    image = read_image("image", folder)
    # MONAI's reader puts the column index i first, the row index j second, the slice k third
    assert tuple(image.shape) == (1, columns, rows, slices)
    np.testing.assert_array_equal(image[0].numpy(), volume.transpose(2, 1, 0).astype(np.float32))
    normal = np.cross(row_cos, col_cos)
    for i, j, k in [(0, 0, 0), (11, 0, 0), (0, 9, 0), (0, 0, 5), (7, 3, 4)]:
        lps = first + k * spacing[2] * normal + i * spacing[1] * row_cos + j * spacing[0] * col_cos
        world = image.affine.numpy() @ np.array([i, j, k, 1.0])
        np.testing.assert_allclose(world[:3], LPS_TO_RAS @ lps, atol=1e-6)

    out = _check_output([str(folder), "--spacing", "0.5", "--no-monai"], capsys)
    shape, spacing_printed, axes = _image_line(out)
    assert shape == (columns, rows, slices)
    np.testing.assert_allclose(spacing_printed, [0.7, 0.8, 2.5], atol=1e-6)
    assert axes == "LPS"  # DICOM's row and column cosines +x, +y are LPS, and MONAI keeps the index order
    assert _ours_wrong_inside(out) == 0
