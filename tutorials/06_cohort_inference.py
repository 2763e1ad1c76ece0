"""Tutorial 06: inference over a cohort on torch.distributed, one share of the scans per process.

Each process (rank) takes its share of the cohort with MONAI's ``partition_dataset``, runs the
pre-processing with our transforms (crop to the body, resample to a 1 mm working grid), a stand-in
network (a soft threshold: two channels of probabilities), and maps the prediction back onto each
scan with ``SpaceInvertd(argmax=True)`` (probabilities back, then the argmax, in one resample).
Every output is written atomically (a temporary file in the same folder, then ``os.replace``), so
a crash leaves no half-written file and a rerun skips the outputs already there. Rank 0 gathers
every rank's counts and prints the summary.

The cohort: ``--data FOLDER`` (your ``*.nii``/``*.nii.gz`` scans), or, by default, ``--cases N``
synthetic CT-like scans with different oblique affines, spacings and shapes, written (once) to
``OUT/06_cohort/scans``. The segmentations go to ``OUT/06_cohort/seg``.

Run from the repository root, one process or several (gloo on CPU, NCCL when CUDA is there, one
GPU per process)::

    python tutorials/06_cohort_inference.py --out outputs
    python -m torch.distributed.run --standalone --nproc_per_node 2 tutorials/06_cohort_inference.py --out outputs

The outputs do not depend on the number of processes: the same files, byte for byte.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import nibabel as nib
import numpy as np
import torch
import torch.distributed as dist
from monai.data import partition_dataset
from monai.transforms import Compose, LoadImaged

from monai_spacetx import SpaceCropForegroundd, SpaceInvertd, SpaceResampled

BODY = -500.0  # HU: the crop keeps everything above air
LESION = 100.0  # HU: the stand-in network's decision level (the lesion is 300 HU, soft tissue 0)
WIDTH = 20.0  # HU: softness of its probabilities
WORKING_SPACING = (1.0, 1.0, 1.0)  # mm: the network's working grid


# ----------------------------------------------------------------------------- the processes
def start() -> tuple[int, int, torch.device]:
    """Join the process group when started by ``torch.distributed.run`` (rank, world size, device); else one process."""
    cuda = torch.cuda.is_available()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return 0, 1, device
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return dist.get_rank(), dist.get_world_size(), device


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def gather(value: Any, world: int) -> list[Any]:
    """Every rank's ``value``, in rank order (the value itself with one process)."""
    if not dist.is_initialized():
        return [value]
    values: list[Any] = [None] * world
    dist.all_gather_object(values, value)
    return values


# ----------------------------------------------------------------------------- atomic files
def write_atomically(path: Path, data: bytes, crash_halfway: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then ``os.replace``.

    ``os.replace`` within one folder (one file system) is atomic: a reader, a rerun or a crash sees
    the old state or the whole new file, never part of it. ``crash_halfway`` kills this process
    after half of the bytes (how the test simulates a crash).
    """
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            if crash_halfway:
                stream.write(data[: len(data) // 2])
                stream.flush()
                os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def nifti_bytes(array: np.ndarray, affine: np.ndarray) -> bytes:
    """A ``.nii.gz`` file's bytes; gzip's time stamp is 0, so the same image always gives the same bytes."""
    return gzip.compress(nib.Nifti1Image(array, affine).to_bytes(), compresslevel=6, mtime=0)


def remove_stale_parts(folder: Path) -> int:
    """Delete the temporary files a killed run left behind (``.NAME.*.part``); returns how many."""
    stale = list(folder.glob(".*.part"))
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


# ----------------------------------------------------------------------------- the cohort
def synthetic_case(index: int) -> tuple[np.ndarray, np.ndarray]:
    """A CT-like scan (float32 HU, affine): a body, and a 300 HU lesion; shape, spacing, tilt and position vary with ``index``."""
    rng = np.random.default_rng(600 + index)
    shape = tuple(int(n) for n in rng.integers((30, 28, 12), (46, 42, 22)))
    spacing = rng.uniform((0.7, 0.7, 1.4), (1.3, 1.3, 2.8))
    a, b, c = rng.uniform(-0.35, 0.35, 3)
    rotation = (np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
                @ np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
                @ np.array([[1, 0, 0], [0, np.cos(c), -np.sin(c)], [0, np.sin(c), np.cos(c)]]))
    affine = np.eye(4)
    affine[:3, :3] = rotation * spacing
    affine[:3, 3] = rng.uniform(-60.0, 60.0, 3)
    mm = np.stack(np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing)], indexing="ij"), -1)
    extent = np.array(shape) * spacing
    body = (((mm - extent / 2) / (extent * 0.42)) ** 2).sum(-1) < 1
    lesion = np.linalg.norm(mm - extent * rng.uniform(0.38, 0.62, 3), axis=-1) < rng.uniform(4.0, 7.0)
    hu = np.where(body, 0.0, -1000.0) + np.where(body & lesion, 300.0, 0.0) + rng.normal(0.0, 5.0, shape)
    return hu.astype(np.float32), affine


def write_cohort(folder: Path, cases: int) -> list[Path]:
    """The synthetic cohort's files (written once, atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(cases):
        path = folder / f"case{index:03d}.nii.gz"
        if not path.exists():
            write_atomically(path, nifti_bytes(*synthetic_case(index)))
        paths.append(path)
    return paths


def find_scans(folder: Path) -> list[Path]:
    scans = sorted(p for p in folder.iterdir() if p.name.endswith((".nii", ".nii.gz")) and not p.name.startswith("."))
    if not scans:
        raise SystemExit(f"06_cohort_inference: no .nii/.nii.gz scans in {folder}")
    return scans


# ----------------------------------------------------------------------------- one scan
class Above:
    """``x > level`` (a module-level class, not a lambda: picklable for DataLoader workers)."""

    def __init__(self, level: float) -> None:
        self.level = level

    def __call__(self, x: Any) -> Any:
        return x > self.level


class SoftThreshold(torch.nn.Module):
    """Stand-in network: two channels, the probability of background and of "lesion" (``x > LESION``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid((x - LESION) / WIDTH)
        return torch.cat([1 - p, p], dim=1)


PREPROCESS = Compose([
    LoadImaged(keys="image", ensure_channel_first=True, image_only=True),
    SpaceCropForegroundd(keys="image", source_key="image", select_fn=Above(BODY), margin=3),
    SpaceResampled(keys="image", pixdim=WORKING_SPACING, mode="bilinear"),
])
EXPORT = SpaceInvertd(keys="pred", orig_keys="image", argmax=True)  # probabilities back, then argmax: uint8 labels


def segment(scan: Path, network: torch.nn.Module, device: torch.device) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Pre-process, predict, map back: the native label map, its affine, and a few numbers."""
    data = PREPROCESS({"image": str(scan)})
    with torch.no_grad():
        data["pred"] = network(data["image"][None].to(device))[0]
    label = EXPORT(data)["pred"]
    native = np.asarray(nib.load(str(scan)).dataobj)
    result = label[0].cpu().numpy().astype(np.uint8)
    stats = {
        "native_shape": list(native.shape),
        "working_shape": list(data["image"].shape[1:]),
        "lesion_voxels": int(result.sum()),
        # the stand-in's ideal answer is the threshold of the scan itself: how far the round trip is from it
        "wrong_vs_ideal": int(np.count_nonzero(result != (native > LESION))),
    }
    return result, label.affine.cpu().numpy().astype(np.float64), stats


# ----------------------------------------------------------------------------- the job
def output_path(seg_dir: Path, scan: Path) -> Path:
    return seg_dir / (scan.name.split(".")[0] + "_seg.nii.gz")


def run(out_dir: Path, data: Optional[Path] = None, cases: int = 8, simulate_crash: Optional[int] = None) -> dict[str, Any]:
    """Segment this rank's share of the cohort; rank 0 returns (and prints) the gathered summary."""
    rank, world, device = start()
    root = Path(out_dir) / "06_cohort"
    seg_dir = root / "seg"
    scans_dir = Path(data) if data is not None else root / "scans"
    if rank == 0:  # one writer for what every rank reads
        seg_dir.mkdir(parents=True, exist_ok=True)
        stale = remove_stale_parts(seg_dir)
        if stale:
            print(f"[06] removed {stale} temporary file(s) a stopped run left in {seg_dir}")
        if data is None:
            write_cohort(scans_dir, cases)
    barrier()
    scans = find_scans(scans_dir)
    mine = partition_dataset(scans, num_partitions=world, shuffle=False, even_divisible=False)[rank]
    network = SoftThreshold().to(device).eval()
    records, written = [], 0
    started = time.perf_counter()
    for scan in mine:
        target = output_path(seg_dir, scan)
        if target.exists():  # atomic writes: a file that exists is complete
            records.append({"case": scan.name, "rank": rank, "status": "skipped"})
            continue
        label, affine, stats = segment(scan, network, device)
        written += 1
        write_atomically(target, nifti_bytes(label, affine), crash_halfway=simulate_crash == written)
        records.append({"case": scan.name, "rank": rank, "status": "written", **stats,
                        "sha256": hashlib.sha256(target.read_bytes()).hexdigest()[:16]})
    seconds = time.perf_counter() - started
    gathered = gather({"rank": rank, "device": str(device), "records": records, "seconds": seconds}, world)
    summary: dict[str, Any] = {}
    if rank == 0:
        summary = summarize(gathered, world, seg_dir)
        write_atomically(root / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
    barrier()
    if dist.is_initialized():
        dist.destroy_process_group()
    return summary


def summarize(gathered: list[dict[str, Any]], world: int, seg_dir: Path) -> dict[str, Any]:
    """Print one line per case and per rank, and the totals; return them."""
    cases = sorted((r for part in gathered for r in part["records"]), key=lambda r: r["case"])
    print(f"[06] cohort of {len(cases)} scans on {world} process(es); segmentations in {seg_dir}")
    for r in cases:
        if r["status"] == "written":
            print(f"[06]   {r['case']:<18} rank {r['rank']}  native {tuple(r['native_shape'])} working {tuple(r['working_shape'])}  "
                  f"lesion {r['lesion_voxels']:>5} voxels, {r['wrong_vs_ideal']:>4} differ from the ideal answer")
        else:
            print(f"[06]   {r['case']:<18} rank {r['rank']}  skipped (already written)")
    for part in gathered:
        done = [r for r in part["records"] if r["status"] == "written"]
        print(f"[06] rank {part['rank']} ({part['device']}): {len(part['records'])} scans, {len(done)} written, "
              f"{len(part['records']) - len(done)} skipped, {part['seconds']:.1f} s")
    written = sum(r["status"] == "written" for r in cases)
    print(f"[06] total: {written} written, {len(cases) - written} skipped")
    return {"world_size": world, "cases": cases, "written": written, "skipped": len(cases) - written}


def main(out_dir: Path = Path("outputs")) -> dict[str, Any]:
    """The main job's entry (one process, the synthetic cohort)."""
    return run(out_dir)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs"), help="output folder (default: outputs)")
    parser.add_argument("--data", type=Path, help="a folder of .nii/.nii.gz scans (default: a synthetic cohort)")
    parser.add_argument("--cases", type=int, default=8, help="size of the synthetic cohort (default 8)")
    parser.add_argument("--simulate-crash", type=int, metavar="K",
                        help="for the test: kill this process halfway through writing its K-th output")
    args = parser.parse_args()
    run(args.out, data=args.data, cases=args.cases, simulate_crash=args.simulate_crash)
