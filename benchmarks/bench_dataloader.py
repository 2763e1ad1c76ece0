"""Training throughput where MONAI users run transforms: inside DataLoader workers, on busy cores.

A training-style pipeline on the benchmark's oblique CT-like case (256x256x120 int16 + uint8
label, NIfTI on disk, read by ``LoadImaged`` in every sample):

- ours:  ``LoadImaged -> SpaceCropd(roi) -> SpaceResampled(pixdim 1.5 mm, bilinear/nearest)
  -> RandSpatialCropd(96^3)``
- MONAI: ``LoadImaged -> SpatialCropd(roi) -> Spacingd(pixdim 1.5 mm, bilinear/nearest)
  -> RandSpatialCropd(96^3)``

The augmentation case: ``LoadImaged -> RandAffined(rotate_range 0.3 rad (about 17 deg) per axis,
scale_range 0.1, bilinear/nearest)`` in ``Compose(lazy=True)`` on the same anisotropic volume and
its label (a rotation of an anisotropic grid is a sheared grid):

- ours:   ... ``-> SpaceApplyPendingd`` (the pending affine executed once by our engine: the
  general path, compiled kernels on CPU, each key with its own mode)
- MONAI:  the same ``Compose(lazy=True)`` without it (MONAI's resampler executes the pending
  affine; issue #6850: it drops the per-key mode, so the label is interpolated)
- TorchIO: ``tio.RandomAffine(scales=0.1, degrees=17)`` on a ``Subject(ScalarImage, LabelMap)``

Each is iterated through ``DataLoader(num_workers=2)`` (PyTorch runs each worker on one torch
thread: the 2 workers and the main process share the 2 cores), and in the main process
(``num_workers=0``) at 1 and 2 torch threads. Samples per second are medians over
``--repeats`` epochs after a warm-up epoch (the cached and spleen cases: after 48 samples a process, the
allocator's warm-up, see ``rate_and_cpu``); "ratio" is ours / MONAI (higher is better for ours).

The cached case (``--only cached``): a 160x160x64 volume and its label already in memory, as a
``CacheDataset`` loop runs them every epoch after the first: ``RandAffined`` (rotation + scale) per
sample, ours (``Compose(lazy=True)`` + ``SpaceApplyPendingd``) against MONAI's own lazy execution and
TorchIO's ``RandomAffine`` on loaded subjects, in workers and in the main process. SimpleITK (TorchIO's
resampler) runs on as many threads as torch there (1): its default is every core. The MONAI pipelines
run twice: returning MONAI's ``MetaTensor`` batches, and ending with ``EnsureTyped(track_meta=False)``
as MONAI's fast-training tutorial does (plain tensors). A second table gives the loader alone: the same
cached samples without the augmentation, in workers and in the main process (what moving a sample costs). In the
main process the first table also gives each pipeline's CPU time per sample (``time.process_time``, median over the
epochs): on a machine other processes keep busy it moves far less than samples/s.

The spleen case (``--only spleen``): the same cached volumes, ``RandCropByPosNegLabeld(96x96x48,
pos 1, neg 1, num_samples=4)`` then ``RandAffined`` per patch in ``Compose(lazy=True)``: ours with
``SpaceRandCropByPosNegLabeld`` and the sink, MONAI with its own ``RandCropByPosNegLabeld`` and lazy
execution, with each of the cached case's two endings; samples/s counts patches.

Run: ``python benchmarks/bench_dataloader.py [--quick] [--repeats N] [--only crop|augment|cached|spleen]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np
from _common import load_average, machine_lines, md_table, setup_torch, write_case

ROI_START, ROI_END = (32, 32, 10), (224, 224, 110)  # the body's box on the full grid
PATCH = (96, 96, 96)


def pipelines(quick: bool) -> dict[str, Any]:
    from monai.transforms import Compose, LoadImaged, RandSpatialCropd, Spacingd, SpatialCropd

    from monai_spacetx import SpaceCropd, SpaceResampled

    keys = ["image", "label"]
    q = 4 if quick else 1
    start, end = tuple(s // q for s in ROI_START), tuple(e // q for e in ROI_END)
    patch = tuple(p // q for p in PATCH)
    pixdim = (1.5 * q,) * 3
    load = LoadImaged(keys, ensure_channel_first=True, image_only=True)
    return {
        "monai-spacetx": Compose([
            load,
            SpaceCropd(keys, roi_start=start, roi_end=end),
            SpaceResampled(keys, pixdim=pixdim, mode=("bilinear", "nearest")),
            RandSpatialCropd(keys, roi_size=patch, random_size=False),
        ]),
        "MONAI": Compose([
            load,
            SpatialCropd(keys, roi_start=start, roi_end=end),
            Spacingd(keys, pixdim=pixdim, mode=("bilinear", "nearest")),
            RandSpatialCropd(keys, roi_size=patch, random_size=False),
        ]),
    }


ROTATE, SCALE = 0.3, 0.1  # radians per axis, relative scale: the augmentation case


def _rand_affine(keys: list[str]) -> Any:
    """Every case's ``RandAffined``: rotation and scale, bilinear image and nearest label."""
    from monai.transforms import RandAffined

    return RandAffined(keys, prob=1.0, rotate_range=(ROTATE,) * 3, scale_range=(SCALE,) * 3, mode=("bilinear", "nearest"), padding_mode="zeros")


def _ending(keys: list[str], name: str) -> list[Any]:
    """The transforms a MONAI pipeline ends with for one of :data:`ENDINGS`."""
    from monai.transforms import EnsureTyped

    return [] if name == "MetaTensor" else [EnsureTyped(keys, track_meta=False)]


def augmentations() -> dict[str, Any]:
    """The augmentation case's three pipelines (see the module docstring); a peer that is not installed is left out."""
    from monai.transforms import Compose, LoadImaged

    from monai_spacetx import SpaceApplyPendingd

    keys = ["image", "label"]

    load = LoadImaged(keys, ensure_channel_first=True, image_only=True)
    chains: dict[str, Any] = {
        "monai-spacetx": Compose([load, _rand_affine(keys), SpaceApplyPendingd(keys)], lazy=True),
        "MONAI": Compose([load, _rand_affine(keys)], lazy=True),
    }
    try:
        import torchio as tio

        chains["TorchIO"] = tio.RandomAffine(scales=SCALE, degrees=float(np.degrees(ROTATE)), image_interpolation="linear")
    except ImportError:
        pass
    return chains


def _as_list(batch: Any) -> Any:
    """A collate function that keeps the samples as they are (TorchIO subjects)."""
    return batch


#: Samples each process (a worker, or the main process) runs before the timed epochs of the cached and spleen
#: cases (see rate_and_cpu); the others warm up for one epoch.
WARM_SAMPLES = 48


def samples_per_second(dataset: Any, workers: int, repeats: int, collate: Any = None, warm_samples: int = 0) -> float:
    return rate_and_cpu(dataset, workers, repeats, collate, warm_samples)[0]


def rate_and_cpu(dataset: Any, workers: int, repeats: int, collate: Any = None, warm_samples: int = 0) -> tuple[float, float]:
    """Samples per second (median over ``repeats`` epochs after the warm-up) and the main process's CPU seconds
    per sample (``time.process_time``, median over the same epochs): with ``workers=0`` the whole per-sample cost at
    the process's thread count, far less sensitive than the rate to other processes on a busy machine. The warm-up
    runs ``warm_samples`` samples per process (at least one epoch)."""
    from monai.data import DataLoader

    extra = {} if collate is None else {"collate_fn": collate}
    loader = DataLoader(dataset, batch_size=1, num_workers=workers, persistent_workers=workers > 0, **extra)
    # warm-up: worker start, imports, and the allocator's steady state: a process's first ~35 samples of the
    # cached case put their outputs on fresh heap pages (1600 page faults an output, 2 ms of a 20 ms sample),
    # later ones reuse freed memory, as the rest of a training run does
    for _ in range(max(1, -(-warm_samples * max(1, workers) // len(dataset)))):
        for _ in loader:
            pass
    rates, cpu = [], []
    for _ in range(repeats):
        started, used = time.perf_counter(), time.process_time()
        count = sum(len(batch) if collate is not None else batch["image"].shape[0] for batch in loader)
        rates.append(count / (time.perf_counter() - started))
        cpu.append((time.process_time() - used) / count)
    return statistics.median(rates), statistics.median(cpu)


def augmentation_rows(case: dict[str, Any], repeats: int, samples: int = 8) -> list[list[str]]:
    """Samples per second of the augmentation case, per pipeline and place (workers, main process)."""
    import torch
    from monai.data import Dataset

    files = [{"image": case["image"], "label": case["label"]} for _ in range(samples)]
    rows = []
    for workers, threads in ((2, 1), (0, 1)):
        torch.set_num_threads(threads)
        rates = {}
        for name, chain in augmentations().items():
            if name == "TorchIO":
                import torchio as tio

                subjects = [tio.Subject(image=tio.ScalarImage(f["image"]), label=tio.LabelMap(f["label"])) for f in files]
                rates[name] = samples_per_second(tio.SubjectsDataset(subjects, transform=chain), workers, repeats, collate=_as_list)
            else:
                rates[name] = samples_per_second(Dataset(files, chain), workers, repeats)
        where = f"DataLoader(num_workers={workers})" if workers else f"main process, {threads} torch thread(s)"
        ours = rates["monai-spacetx"]
        rows.append([where, load_average().split(" / ")[0], f"{ours:.2f}", f"{rates['MONAI']:.2f} ({ours / rates['MONAI']:.2f}x)",
                     f"{rates['TorchIO']:.2f} ({ours / rates['TorchIO']:.2f}x)" if "TorchIO" in rates else "n/a"])
    return rows


CACHED_SHAPE = (160, 160, 64)  # the cached case's volume (a CacheDataset item after loading and respacing)


def _sitk_threads(threads: int) -> None:
    """SimpleITK's default thread count (TorchIO resamples with it), inherited by forked DataLoader workers."""
    try:
        import SimpleITK as sitk
    except ImportError:
        return
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)


#: The cached case's two endings of the MONAI pipelines: MONAI's ``MetaTensor`` batches (the default), and MONAI's
#: fast-training ending ``EnsureTyped(track_meta=False)`` (plain tensors, as MONAI's fast-training tutorial ends its
#: transforms); TorchIO's subjects are the same in both.
ENDINGS = ("MetaTensor", "EnsureTyped(track_meta=False)")


def cached_rows(quick: bool, repeats: int, samples: int = 8) -> tuple[list[list[str]], list[str], list[list[str]]]:
    """The cached case: volumes already in memory (what a ``CacheDataset`` loop runs every epoch after
    its first), each sample ``RandAffined`` (rotation + scale, image bilinear + label nearest):

    - ours: ``CacheDataset`` of ``Compose([LoadImaged, RandAffined, SpaceApplyPendingd], lazy=True)``
      (the load is cached; the random affine and our sink run per sample);
    - MONAI: the same without the sink (MONAI's lazy resampler executes the pending affine);
    - TorchIO: ``RandomAffine`` on ``Subject``s whose images are loaded once (tensors in memory).

    Each MONAI pipeline with each of :data:`ENDINGS`. Returns the rows (samples per second in
    ``DataLoader(num_workers=2)`` and in the main process at 1 torch thread), and the header and rows of the loader's own table:
    the same datasets without the augmentation, what moving a sample costs whatever transform made it
    (a ``MetaTensor`` batch carries LoadImaged's NIfTI header as about 90 small tensors, each its own
    shared-memory file and file descriptor in a worker's batch)."""
    warm = 8 if quick else WARM_SAMPLES  # samples a process runs before the timed epochs (rate_and_cpu)
    import torch
    from monai.data import CacheDataset
    from monai.transforms import Compose, LoadImaged

    from monai_spacetx import SpaceApplyPendingd

    keys = ["image", "label"]
    shape = tuple(n // (2 if quick else 1) for n in CACHED_SHAPE)
    case = write_case(False, shape=shape)
    files = [{"image": case["image"], "label": case["label"]} for _ in range(samples)]
    load = LoadImaged(keys, ensure_channel_first=True, image_only=True)

    datasets: dict[tuple[str, str], Any] = {}
    floors: dict[str, Any] = {}
    for end in ENDINGS:
        datasets["monai-spacetx", end] = CacheDataset(files, Compose([load, _rand_affine(keys), SpaceApplyPendingd(keys), *_ending(keys, end)], lazy=True),
                                                      progress=False)
        datasets["MONAI", end] = CacheDataset(files, Compose([load, _rand_affine(keys), *_ending(keys, end)], lazy=True), progress=False)
        floors[end] = CacheDataset(files, Compose([load, *_ending(keys, end)]), progress=False)
    collate: dict[str, Any] = {}
    try:
        import torchio as tio

        loaded = load(files[0])
        subjects = []
        for _ in range(samples):
            subject = tio.Subject(image=tio.ScalarImage(tensor=loaded["image"].as_tensor().clone(), affine=loaded["image"].affine.numpy()),
                                  label=tio.LabelMap(tensor=loaded["label"].as_tensor().clone(), affine=loaded["label"].affine.numpy()))
            subject.load()
            subjects.append(subject)
        datasets["TorchIO", ""] = tio.SubjectsDataset(subjects, transform=tio.RandomAffine(scales=SCALE, degrees=float(np.degrees(ROTATE)), image_interpolation="linear"))
        floors["TorchIO Subject"] = tio.SubjectsDataset(subjects)
        collate["TorchIO"] = collate["TorchIO Subject"] = _as_list
    except ImportError:
        pass
    rows, floor_rows = [], []
    for workers, threads in ((2, 1), (0, 1)):
        torch.set_num_threads(threads)
        _sitk_threads(threads)
        measured = {key: rate_and_cpu(dataset, workers, repeats, collate=collate.get(key[0]), warm_samples=warm) for key, dataset in datasets.items()}
        rates = {key: rate for key, (rate, _) in measured.items()}
        where = f"DataLoader(num_workers={workers})" if workers else f"main process, {threads} torch thread(s)"
        load_now = load_average().split(" / ")[0]
        for end in ENDINGS:
            ours, monai_rate, tio_rate = rates["monai-spacetx", end], rates["MONAI", end], rates.get(("TorchIO", ""))
            # in the main process its CPU per sample is the whole cost: peer / ours (higher is better for ours)
            cpu = [measured[key][1] for key in (("monai-spacetx", end), ("MONAI", end), ("TorchIO", "")) if key in measured]
            cpu_text = " / ".join(f"{c * 1e3:.1f}" for c in cpu) + " (" + ", ".join(f"{c / cpu[0]:.2f}x" for c in cpu[1:]) + ")"
            rows.append([where, end, load_now, f"{ours:.2f}", f"{monai_rate:.2f} ({ours / monai_rate:.2f}x)",
                         f"{tio_rate:.2f} ({ours / tio_rate:.2f}x)" if tio_rate else "n/a", "" if workers else cpu_text])
        floor = {name: samples_per_second(dataset, workers, repeats, collate=collate.get(name), warm_samples=warm) for name, dataset in floors.items()}
        floor_rows.append([where, load_average().split(" / ")[0], *(f"{floor[name]:.1f}" for name in floors)])
    return rows, ["where", "load", *(f"MONAI dict, {name}" if name in ENDINGS else name for name in floors)], floor_rows


SPLEEN_PATCH, SPLEEN_SAMPLES = (96, 96, 48), 4  # the spleen case's patches per cached volume


def spleen_rows(quick: bool, repeats: int, samples: int = 8) -> list[list[str]]:
    """The spleen case: cached volumes, ``RandCropByPosNegLabeld(num_samples=4)`` then ``RandAffined`` per patch,
    in ``Compose(lazy=True)``: ours (``SpaceRandCropByPosNegLabeld`` ... ``SpaceApplyPendingd``) against MONAI's
    ``RandCropByPosNegLabeld`` and its own lazy execution. Patches per second, workers and main process, 1 thread."""
    warm = 8 if quick else WARM_SAMPLES  # samples a process runs before the timed epochs (rate_and_cpu)
    import torch
    from monai.data import CacheDataset
    from monai.transforms import Compose, LoadImaged, RandCropByPosNegLabeld

    from monai_spacetx import SpaceApplyPendingd, SpaceRandCropByPosNegLabeld

    keys = ["image", "label"]
    q = 2 if quick else 1
    shape, patch = tuple(n // q for n in CACHED_SHAPE), tuple(n // q for n in SPLEEN_PATCH)
    case = write_case(False, shape=shape)
    files = [{"image": case["image"], "label": case["label"]} for _ in range(samples)]
    load = LoadImaged(keys, ensure_channel_first=True, image_only=True)
    crop = dict(label_key="label", spatial_size=patch, pos=1, neg=1, num_samples=SPLEEN_SAMPLES)  # background: label 0 (the CT holds negative HU)

    datasets = {}
    for end in ENDINGS:
        datasets["monai-spacetx", end] = CacheDataset(files, Compose([load, SpaceRandCropByPosNegLabeld(keys, **crop), _rand_affine(keys),
                                                                      SpaceApplyPendingd(keys), *_ending(keys, end)], lazy=True), progress=False)
        datasets["MONAI", end] = CacheDataset(files, Compose([load, RandCropByPosNegLabeld(keys, **crop), _rand_affine(keys), *_ending(keys, end)], lazy=True),
                                              progress=False)
    rows = []
    for workers, threads in ((2, 1), (0, 1)):
        torch.set_num_threads(threads)
        rates = {key: samples_per_second(dataset, workers, repeats, warm_samples=warm) for key, dataset in datasets.items()}
        where = f"DataLoader(num_workers={workers})" if workers else f"main process, {threads} torch thread(s)"
        for end in ENDINGS:
            ours, theirs = rates["monai-spacetx", end], rates["MONAI", end]
            rows.append([where, end, load_average().split(" / ")[0], f"{ours:.2f}", f"{theirs:.2f} ({ours / theirs:.2f}x)"])
    return rows


def main(quick: bool = False, repeats: int = 3, only: str | None = None) -> list[list[str]]:
    torch = setup_torch()
    from monai.data import Dataset

    case = write_case(quick)
    files = [{"image": case["image"], "label": case["label"]} for _ in range(8)]
    print("\n".join(machine_lines()))
    print(f"- case: {case['shape']} int16 + uint8 label, spacing {tuple(round(s, 3) for s in case['spacing'])} mm, "
          f"8 samples per epoch, median of {repeats} epochs\n")
    if only in (None, "augment"):
        print(f"### augmentation: Compose(lazy=True) with RandAffined(rotate_range={ROTATE} rad, scale_range={SCALE}), samples/s (ratio: ours / peer)\n")
        print(md_table(["where", "load", "monai-spacetx", "MONAI", "TorchIO RandomAffine"], augmentation_rows(case, repeats)))
        print()
    if only in (None, "cached"):
        shape = tuple(n // (2 if quick else 1) for n in CACHED_SHAPE)
        print(f"### cached volumes ({shape}, image + label in memory): RandAffined(rotate_range={ROTATE} rad, scale_range={SCALE}) "
              "per sample, samples/s (ratio: ours / peer)\n")
        rows, floor_header, floor_rows = cached_rows(quick, repeats)
        print(md_table(["where", "MONAI pipelines end with", "load", "monai-spacetx", "MONAI (lazy)", "TorchIO RandomAffine",
                        "CPU ms/sample: ours / MONAI / TorchIO (theirs / ours)"], rows))
        print("\nthe loader alone (the same cached samples, no augmentation), samples/s:\n")
        print(md_table(floor_header, floor_rows))
        print()
    if only in (None, "spleen"):
        shape = tuple(n // (2 if quick else 1) for n in CACHED_SHAPE)
        patch = tuple(n // (2 if quick else 1) for n in SPLEEN_PATCH)
        print(f"### spleen-style, cached volumes ({shape}): RandCropByPosNegLabeld({patch}, num_samples={SPLEEN_SAMPLES}) + "
              f"RandAffined(rotate_range={ROTATE} rad, scale_range={SCALE}) per patch, patches/s (ratio: ours / peer)\n")
        print(md_table(["where", "MONAI pipelines end with", "load", "monai-spacetx", "MONAI (lazy)"], spleen_rows(quick, repeats)))
        print()
    if only in ("augment", "cached", "spleen"):
        return []
    print("### crop + respace + random crop, samples/s\n")
    rows = []
    for workers, threads in ((2, 1), (0, 1), (0, 2)):
        torch.set_num_threads(threads)
        rates = {name: samples_per_second(Dataset(files, chain), workers, repeats) for name, chain in pipelines(quick).items()}
        where = f"DataLoader(num_workers={workers})" if workers else f"main process, {threads} torch thread(s)"
        rows.append([where, load_average().split(" / ")[0], f"{rates['monai-spacetx']:.2f}", f"{rates['MONAI']:.2f}",
                     f"{rates['monai-spacetx'] / rates['MONAI']:.2f}x"])
    print(md_table(["where", "load", "monai-spacetx samples/s", "MONAI samples/s", "ratio"], rows))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 4x coarser grid per axis")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=["crop", "augment", "cached", "spleen"], default=None, help="run one of the cases")
    args = parser.parse_args()
    main(args.quick, args.repeats, args.only)
