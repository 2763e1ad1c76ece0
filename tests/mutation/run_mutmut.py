"""Run mutmut over the package, one module at a time, each mutant against that module's own tests.

``run_mutations.py`` plants seven bugs chosen by hand; this script lets mutmut
(https://github.com/boxed/mutmut, 3.x) generate every single-point mutant of a module (operators,
constants, comparisons, dropped arguments, ...) and runs, for each mutant, only the tests of that
module's selection that reach the mutated function (mutmut records which tests call which function
in a first pass over the selection). The full suite takes minutes; a module's selection seconds.

For each module the script copies the repository (the working tree, or ``--ref`` as committed)
into ``<workdir>/<module>/``, writes the module and its test selection into the copy's
``[tool.mutmut]`` table (the repository's table holds the settings every module shares), and runs
``nice -n 15 mutmut run --max-children N`` there. The repository itself is never touched.

    python tests/mutation/run_mutmut.py geometry/points.py          # one module
    python tests/mutation/run_mutmut.py --list                      # the modules and their tests
    python tests/mutation/run_mutmut.py                              # every module, in order
    python tests/mutation/run_mutmut.py compare.py --show            # and print each survivor's diff
    python tests/mutation/run_mutmut.py engine/box.py --ref HEAD --survivors  # after new kill tests: rerun the survivors

Each module prints one line: mutants, killed, survived (plus timeouts and "no tests"), and the
survivors' names; ``<workdir>/<module>/survivors.txt`` holds their diffs. A mutant's verdict is
cached by mutmut in the copy: rerunning a module reruns only mutants whose code or tests changed,
unless ``--fresh``. Not run in CI: every module takes from minutes to an hour on 2 shared cores.
Not collected by pytest (its name does not start with ``test_``).

The compiled kernels (``engine/compiled/``) are not mutated here: mutmut's trampolines cannot
run inside numba's nopython code. They are covered by their comparisons with the torch path and the
oracles in ``tests/test_kernels.py`` and ``tests/test_export.py`` (and ``run_mutations.py`` edits them).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "monai_spacetx"

# module (relative to the package) -> the tests that guard it (pytest arguments: files, node ids, --deselect=NODE). Ordered: the small,
# high-value modules first. A selection is what a mutant of that module runs (only the selected tests
# that call the mutated function): keep it to the files that check the module against an oracle.
MODULES: dict[str, tuple[str, ...]] = {
    "geometry/points.py": ("tests/test_points.py",),
    # the pad modes against MONAI bit for bit (test_counterparts), the crops with pad modes and their errors; less the
    # two tests that pickle transforms into worker processes (40 of the 46 s a surviving mutant costs; they check the
    # transforms travel, not padding's values)
    "transforms/padding.py": ("tests/test_counterparts.py", "tests/test_compat_monai.py", "tests/test_transforms.py",
                              "--deselect=tests/test_compat_monai.py::test_dataloader_workers[spawn]",
                              "--deselect=tests/test_compat_monai.py::test_transforms_pickle"),
    "transforms/meta.py": ("tests/test_space_monai.py", "tests/test_bad_inputs.py", "tests/test_interop.py"),
    # every engine call builds a WarpOptions, so every selected test reaches this module: only the tests that check
    # the options themselves (messages by hand, MONAI's names and recorded modes, the sigma and thick-axis rules) and
    # one brute-force case per padding mode (the constant/border/reflection routing); the alias table by hand in
    # test_survivors_options.py. A few seconds a mutant, where test_engine.py + test_bad_inputs.py cost ~30 s
    "engine/options.py": ("tests/test_engine.py::test_bad_input_messages",
                          "tests/test_engine.py::test_anti_aliasing_smooths_only_what_shrinks_and_only_interpolating_modes",
                          "tests/test_engine.py::test_thick_axis_mode_needs_an_anisotropic_grid",
                          "tests/test_engine.py::test_index_path_border_and_reflection",
                          "tests/test_engine.py::test_separable_matches_general[linear-zeros--3-2]",
                          "tests/test_engine.py::test_separable_matches_general[linear-border-0.0-2]",
                          "tests/test_engine.py::test_separable_matches_general[linear-reflection-0.0-2]",
                          "tests/test_transforms.py::test_bad_input_messages",
                          "tests/test_transforms.py::test_transform_bad_inputs_name_the_argument_the_key_and_the_value",
                          "tests/test_transforms.py::test_nearest_interp_switches_recorded_modes",
                          "tests/test_counterparts.py::test_spacing_values_we_refuse_say_why"),
    # the reader against MONAI's own lazy record of each call, the exact map-back through every record, the unknown
    # record; not the 210-case lazy table (test_lazy_chain_is_one_resample_with_the_asked_mode: most of a survivor's
    # cost); test_survivors_records.py checks the modes and paddings the table would have reached
    "transforms/records.py": ("tests/test_records.py::test_reader_gives_monais_own_index_map_grid_and_mode",
                              "tests/test_records.py::test_exact_map_back_through_every_record",
                              "tests/test_records.py::test_an_unknown_record_is_refused_by_name",
                              # the malformed records' refusals (read_record's and index_map's messages)
                              "tests/test_bad_inputs.py::test_a_malformed_record_is_our_metadata_error_naming_the_transform",
                              "tests/test_bad_inputs.py::test_a_record_monai_never_writes_is_refused_when_read",
                              "tests/test_bad_inputs.py::test_a_record_that_is_not_a_mapping_is_refused_without_a_name"),
    # the metrics and the harness by hand (test_compare), their four refusals in test_bad_inputs' table (not the whole file:
    # the rest never reaches compare.py), the two check reports whose counts are worked out by hand from the scan (MONAI's
    # pipeline's scores included); _ours_probabilities (only reached with probabilities=True: "no tests" for 62 mutants
    # before) by test_survivors_compare.py
    "compare.py": ("tests/test_compare.py",
                   *(f"tests/test_bad_inputs.py::test_bad_input_raises_our_error_naming_it[{case}]" for case in (
                       "working_grid_mask(None)", "landmark_error_mm(None)", "example_scan(None)", "compare_roundtrip({})")),
                   "tests/test_cli.py::test_check_on_the_shipped_example_scan",
                   "tests/test_cli.py::test_check_separates_inside_and_outside_the_working_grid"),
    # the command line's inputs: test_bad_inputs' command-line table and test_cli's tests of reading (bad inputs, landmarks,
    # stand-in labels, series, colour, DICOM, the loading progress), in process; not the tests that run whole checks for
    # their report or figure (each 2-3 s for every mutant of load_case) nor the four that start a subprocess (mutmut's
    # trampolines do not reach into a child process)
    "cli/inputs.py": tuple(f"tests/test_cli.py::{name}" for name in (
        "test_errors_are_one_line_with_one_prefix", "test_check_bad_input_messages", "test_check_landmarks_csv_json_and_lps",
        "test_check_stand_in_label_2d_png_and_4d_volume", "test_check_progress_moves_while_the_case_loads",
        "test_check_bad_input_is_one_line_exit_2_before_the_work", "test_check_stand_in_threshold_ignores_a_nan_background",
        "test_check_rgb_png_is_converted_to_luminance", "test_check_reads_a_dicom_series_folder_as_monai_loadimage_does",
        "test_check_dicom_folder_without_a_dicom_reader_is_one_line")) + ("tests/test_bad_inputs.py",),
    "cli/check.py": ("tests/test_cli.py", "tests/test_bad_inputs.py"),
    # the engine tests that decide which voxels are computed against brute-force oracles (zeros padding, fills,
    # tiles, far origins, border/reflection boxes); the rest of test_engine reaches box.py too but checks other things
    # the guard's own tests (sizes and bytes by hand, the free memory made small, the real free memory)
    "engine/limits.py": ("tests/test_bad_inputs.py::test_a_grid_too_large_for_memory_is_refused_before_allocating",
                         "tests/test_bad_inputs.py::test_the_real_free_memory_refuses_the_issues_grid",
                         "tests/test_bad_inputs.py::test_the_guard_counts_bytes_by_hand"),
    "engine/box.py": ("tests/test_engine.py::test_plan_box_covers_only_the_overlap", "tests/test_engine.py::test_separable_matches_general",
                      "tests/test_engine.py::test_general_path_tiles_give_the_same_answer",
                      "tests/test_engine.py::test_general_path_is_relative_to_origins",
                      "tests/test_engine.py::test_index_path_border_and_reflection",
                      "tests/test_engine.py::test_label_mode_matches_the_per_class_definition_on_every_path"),
    # the taps against outside oracles only: the brute-force interpolators (every mode and padding, 2-D: the taps are
    # 1-D), torch's bicubic (F.interpolate, grid_sample), the smoothed-then-sampled definition of anti-aliasing and
    # its sigmas by hand, np.pad's edge/symmetric, the tie rule by hand, gradcheck on the torch general path (the
    # compiled kernels take the rest of it), MONAI's Resize for area and the per-axis sigma: a few seconds a mutant
    "engine/taps.py": ("tests/test_engine.py::test_separable_matches_general[nearest-zeros-0.0-2]",
                       "tests/test_engine.py::test_separable_matches_general[nearest-zeros--3-2]",
                       "tests/test_engine.py::test_separable_matches_general[nearest-border-0.0-2]",
                       "tests/test_engine.py::test_separable_matches_general[nearest-reflection-0.0-2]",
                       "tests/test_engine.py::test_separable_matches_general[linear-zeros-0.0-2]",
                       "tests/test_engine.py::test_separable_matches_general[linear-zeros--3-2]",
                       "tests/test_engine.py::test_separable_matches_general[linear-border-0.0-2]",
                       "tests/test_engine.py::test_separable_matches_general[linear-reflection-0.0-2]",
                       "tests/test_engine.py::test_separable_matches_general[cubic-zeros-0.0-2]",
                       "tests/test_engine.py::test_separable_matches_general[cubic-zeros--3-2]",
                       "tests/test_engine.py::test_separable_matches_general[cubic-border-0.0-2]",
                       "tests/test_engine.py::test_separable_matches_general[cubic-reflection-0.0-2]",
                       "tests/test_engine.py::test_separable_matches_general[label-zeros-0.0-2]",
                       "tests/test_engine.py::test_separable_matches_general[label-zeros--3-2]",
                       "tests/test_engine.py::test_separable_matches_general[label-border-0.0-2]",
                       "tests/test_engine.py::test_separable_matches_general[label-reflection-0.0-2]",
                       "tests/test_engine.py::test_cubic_is_torch_bicubic_on_the_separable_path",
                       "tests/test_engine.py::test_cubic_is_torch_grid_sample_bicubic_on_the_general_path",
                       "tests/test_engine.py::test_anti_aliasing_is_smooth_then_sample_on_both_paths",
                       "tests/test_engine.py::test_anti_aliasing_smooths_only_what_shrinks_and_only_interpolating_modes",
                       "tests/test_engine.py::test_index_path_border_and_reflection",
                       "tests/test_engine.py::test_nearest_ties_go_to_the_higher_index",
                       "tests/test_engine.py::test_differentiable[linear-general]",
                       "tests/test_engine.py::test_differentiable[cubic-general]",
                       "tests/test_counterparts.py::test_resized_matches_monai",
                       "tests/test_counterparts.py::test_resize_area_2d_with_3x3_affine",
                       "tests/test_counterparts.py::test_area_is_the_block_mean",
                       "tests/test_counterparts.py::test_resized_per_key_options"),
    # the plan's kinds, axes and thick axis by hand (test_plan_kinds, test_float32_affines..., the thick-axis tests),
    # the index path against indexing from the raw index map and np.pad, the separable path against the brute-force
    # oracles (one case per mode, 2-D, and one 3-D), the tie rule by hand, torch's bicubic, its two errors: ~7 s in all,
    # where all of test_engine.py + test_space.py cost ~30 s a mutant
    "engine/plan.py": ("tests/test_engine.py::test_plan_kinds", "tests/test_engine.py::test_plan_box_covers_only_the_overlap",
                       "tests/test_engine.py::test_index_path_is_bitwise_exact[3-int16]",
                       "tests/test_engine.py::test_index_path_is_bitwise_exact[2-uint8]",
                       "tests/test_engine.py::test_index_path_border_and_reflection",
                       "tests/test_engine.py::test_separable_matches_general[linear-zeros--3-2]",
                       "tests/test_engine.py::test_separable_matches_general[nearest-reflection-0.0-2]",
                       "tests/test_engine.py::test_separable_matches_general[cubic-border-0.0-2]",
                       "tests/test_engine.py::test_separable_matches_general[label-zeros-0.0-2]",
                       "tests/test_engine.py::test_separable_matches_general[linear-zeros--3-3]",
                       "tests/test_engine.py::test_thick_axis_is_resampled_apart_from_the_plane[linear-linear]",
                       "tests/test_engine.py::test_thick_axis_is_resampled_apart_from_the_plane[nearest-label]",
                       "tests/test_engine.py::test_thick_axis_mode_needs_an_anisotropic_grid",
                       "tests/test_engine.py::test_float32_affines_keep_the_fast_exact_paths",
                       "tests/test_engine.py::test_nearest_ties_go_to_the_higher_index",
                       "tests/test_engine.py::test_cubic_is_torch_bicubic_on_the_separable_path",
                       "tests/test_engine.py::test_bad_input_messages"),
    "geometry/boxes.py": ("tests/test_boxes.py",),
    # the property tests with a fixed seed: the same examples for the clean run and every mutant, so no kill by a lucky
    # draw (a random draw once failed the clean run: test_respace_centers_keeps_voxel_zero, since fixed)
    "geometry/space.py": ("tests/test_space.py", "tests/test_space_properties.py", "tests/test_space_monai.py",
                          "--hypothesis-seed=0"),
    "transforms/sink.py": ("tests/test_lazy.py",),
    # the map-back against native labels (test_lazy, every record in test_records), compose_nearest against brute force
    # (test_kernels), the two chains that once failed; not test_chains' 300 random chains (~70 s a mutant)
    "transforms/chain.py": ("tests/test_lazy.py", "tests/test_records.py::test_exact_map_back_through_every_record",
                            "tests/test_kernels.py::test_compose_nearest_gather_matches_chain",
                            "tests/test_chains.py::test_chains_that_failed_once"),
    # MONAI's Spacing/Resize/Zoom side by side (test_counterparts), our SpaceResampled's pixdim (test_transforms)
    "transforms/planning.py": ("tests/test_counterparts.py", "tests/test_transforms.py"),
    # the tests that reach the functional layer through the transforms: test_transforms (MONAI side by side, exact label
    # round trips), test_export's SpaceInvertd argmax tests (MONAI's Invertd + AsDiscreted), the transforms' bad-input table
    # (messages by hand) and big-endian arrays, set_track_meta(False), a MONAI multi-sample crop between our steps, the
    # map-back through every record; test_engine.py never reaches this module and test_export.py's other tests call the
    # engine directly (with them ~30 s a mutant on the shared machine); execute_pending is reached by test_survivors_lazy/_sink
    "transforms/functional.py": ("tests/test_transforms.py",
                                 "tests/test_export.py::test_space_invertd_argmax_replaces_invertd_and_asdiscreted",
                                 "tests/test_export.py::test_space_invertd_argmax_arguments",
                                 "tests/test_export.py::test_asdiscreted_argmax_after_the_export_makes_everything_class_0",
                                 "tests/test_bad_inputs.py::test_bad_input_raises_our_error_naming_it",
                                 "tests/test_bad_inputs.py::test_big_endian_arrays_work_in_the_transforms_as_in_warp_image",
                                 "tests/test_compat_monai.py::test_set_track_meta_false_returns_plain_tensors",
                                 "tests/test_pipelines.py::test_monai_multi_sample_crop_between_our_steps",
                                 "tests/test_records.py::test_exact_map_back_through_every_record"),
    "transforms/counterparts.py": ("tests/test_counterparts.py",),
    # test_lazy's tests on small images (MONAI eager side by side, brute-force oracles, pass counts), the held-windows tie
    # rule by hand and the two seeded chains that once failed (test_chains: the one-resample oracle), and 12 of test_records'
    # 264 lazy chains (MONAI record kinds, 2-D and 3-D, copy/resample/sink, against brute force); less test_lazy's map-back
    # tests (chain.py's) and its tests on the scan (1-2 s each): all of test_lazy + test_records cost ~35 s a mutant on the
    # shared machine (890 mutants), this ~5 s
    "transforms/lazy.py": ("tests/test_lazy.py", "tests/test_chains.py::test_centre_on_a_flipped_crops_edge",
                           "tests/test_chains.py::test_chains_that_failed_once",
                           "tests/test_records.py::test_lazy_chain_is_one_resample_with_the_asked_mode[Spacingd-bilinear-3-resample]",
                           "tests/test_records.py::test_lazy_chain_is_one_resample_with_the_asked_mode[Spacingd-0-2-resample]",
                           "tests/test_records.py::test_lazy_chain_is_one_resample_with_the_asked_mode[Zoomd-keep-bilinear-2-resample]",
                           "tests/test_records.py::test_lazy_chain_is_one_resample_with_the_asked_mode[Zoomd-keep-nearest-3-sink]",
                           "tests/test_records.py::test_lazy_chain_is_one_resample_with_the_asked_mode[RandRotated-nearest-2-copy]",
                           "tests/test_records.py::test_lazy_chain_is_one_resample_with_the_asked_mode[Affined-1-2-sink]",
                           "tests/test_records.py::test_lazy_chain_is_one_resample_with_the_asked_mode[Orientationd-None-3-copy]",
                           "tests/test_records.py::test_lazy_chain_is_one_resample_with_the_asked_mode[Flipd-int-None-2-resample]",
                           "tests/test_records.py::test_lazy_chain_is_one_resample_with_the_asked_mode[SpatialCropd-None-2-copy]",
                           "tests/test_records.py::test_lazy_chain_is_one_resample_with_the_asked_mode[BorderPadd-None-3-resample]",
                           "tests/test_records.py::test_lazy_chain_is_one_resample_with_the_asked_mode[ResizeWithPadOrCropd-None-2-sink]",
                           "tests/test_records.py::test_lazy_chain_is_one_resample_with_the_asked_mode[Rotate90d-k3-None-3-sink]",
                           "--deselect=tests/test_lazy.py::test_a_nearest_vote_given_as_a_spline_order_is_kept_under_lazy",
                           "--deselect=tests/test_lazy.py::test_monai_lazy_alone_corrupts_the_label_ours_does_not",
                           "--deselect=tests/test_lazy.py::test_monai_inverse_still_inverts_the_fused_chain",
                           "--deselect=tests/test_lazy.py::test_an_identity_rotation_in_a_label_chain_keeps_the_map_back_exact",
                           "--deselect=tests/test_lazy.py::test_eager_chain_with_two_resamples_maps_back_exactly_by_composing_index_maps",
                           "--deselect=tests/test_lazy.py::test_lazy_label_chain_maps_back_exactly",
                           "--deselect=tests/test_lazy.py::test_axis_aligned_chains_map_back_one_axis_at_a_time_to_the_same_voxels",
                           "--deselect=tests/test_lazy.py::test_lazy_label_chain_is_one_resample_and_keeps_values_and_dtype",
                           "--deselect=tests/test_lazy.py::test_chain_ending_with_monai_ops_needs_the_sink"),
    # warp_image's checks, containers, dtypes and dispatch against outside oracles: the brute-force index map (every
    # dtype), np.pad's edge/symmetric, the brute-force interpolators of every mode and padding (2-D: the dispatch is
    # per mode, not per dimension), messages and dtypes by hand, the per-class label definition, the guard's sizes by
    # hand; not all of test_engine.py + test_bad_inputs.py (~30 s a mutant)
    "engine/warp.py": tuple(f"tests/test_engine.py::{name}" for name in (
        "test_index_path_is_bitwise_exact", "test_index_path_border_and_reflection", "test_identity_returns_a_copy",
        "test_dtypes_and_containers", "test_input_is_not_mutated", "test_bad_input_messages",
        "test_numpy_arrays_torch_cannot_wrap_are_converted", "test_complex_input_is_resampled_per_part",
        "test_label_mode_refuses_what_is_not_a_label_map", "test_label_mode_keeps_any_label_dtype")) + tuple(
        f"tests/test_engine.py::test_separable_matches_general[{mode}-{padding}-2]" for mode in ("nearest", "linear", "cubic", "label")
        for padding in ("zeros-0.0", "zeros--3", "border-0.0", "reflection-0.0")) + (
        "tests/test_engine_exactness.py::test_label_mode_fill_and_ties",
        "tests/test_bad_inputs.py::test_a_grid_too_large_for_memory_is_refused_before_allocating",
        "tests/test_bad_inputs.py::test_label_mode_refuses_an_image_that_requires_grad"),
    # label.py is the torch path (the compiled kernels run on CPU): the per-class definition by brute force on that path
    # (test_survivors_label.py, compiled off, every padding, ties, 2 and 40 classes), exact-weight ties against the brute
    # force with the torch path as reference (test_label_axes.py), the dispatch into the kernels against the definition
    # (test_engine.py's per-class test), fill and ties by hand (test_engine_exactness.py); not all of test_engine.py
    "engine/label.py": ("tests/test_engine.py::test_label_mode_matches_the_per_class_definition_on_every_path",
                        "tests/test_label_axes.py::test_axis_aligned_label_kernel_on_exact_weights",
                        "tests/test_label_axes.py::test_general_label_kernel_decides_faces_near_a_tie",
                        "tests/test_engine_exactness.py::test_label_mode_fill_and_ties"),
    # warp_argmax against the brute-force oracles (every channel by scipy's map_coordinates or the Keys cubic from the raw
    # affines, then argmax; ties and wide dtypes by hand), on both CPU paths (compiled and the torch tiles); not the
    # MONAI-transform, CLI, memory and benchmark tests of test_export.py (they call the export but check other things: 40
    # of its 52 s) nor the tiled-vs-whole self-comparison
    "engine/export.py": tuple(f"tests/test_export.py::{name}" for name in (
        "test_argmax_equals_resample_every_channel_then_argmax", "test_smooth_logits_and_fill_label",
        "test_certificate_falls_back_to_every_class", "test_ties_between_corner_classes_go_to_the_smallest_class",
        "test_nan_in_a_channel_wins_where_it_reaches", "test_ties_go_to_the_smallest_class",
        "test_cubic_equals_resampling_every_channel", "test_label_dtype_holds_every_class_and_the_fill",
        "test_wide_codes_and_labels", "test_outside_the_working_grid_is_the_fill_label",
        "test_bad_input_is_refused_with_our_errors")) + (
        "tests/test_kernels.py::test_argmax_export_when_a_voxels_best_classes_tie",
        "tests/test_engine.py::test_argmax_export_ties_go_to_the_smaller_class"),
}

IGNORE = shutil.ignore_patterns(".git", "__pycache__", ".hypothesis", ".pytest_cache", ".mypy_cache", "mutants",
                                "*.egg-info", ".coverage", "outputs")


def slug(module: str) -> str:
    return module.replace("/", ".").removesuffix(".py")


def copy_repository(dest: Path, ref: str | None) -> None:
    """The working tree (``ref`` None) or a commit's tree, without caches, into ``dest``."""
    if dest.exists():
        shutil.rmtree(dest)
    if ref is None:
        shutil.copytree(ROOT, dest, ignore=IGNORE)
        return
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "--format=tar", ref], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest)


def write_module_config(copy: Path, module: str, tests: tuple[str, ...]) -> None:
    """Put the module and its selection into the copy's ``[tool.mutmut]`` table (replacing those two keys)."""
    pyproject = copy / "pyproject.toml"
    text = pyproject.read_text()
    header = "[tool.mutmut]\n"
    if header not in text:
        raise SystemExit("pyproject.toml has no [tool.mutmut] table: the shared settings live there")
    lines = [f'only_mutate = ["{PACKAGE}/{module}"]',
             "pytest_add_cli_args_test_selection = [" + ", ".join(json.dumps(t) for t in tests) + "]"]
    text = re.sub(r"^(only_mutate|pytest_add_cli_args_test_selection)\s*=.*$\n?", "", text, flags=re.M)
    text = text.replace(header, header + "\n".join(lines) + "\n", 1)
    pyproject.write_text(text)


def mutmut(copy: Path, *args: str, nice: int = 0, log: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``mutmut ARGS`` in ``copy``; its output captured, or written to ``log`` (a run's output is long: a spinner)."""
    command = [sys.executable, "-m", "mutmut", *args]
    if nice:
        command = ["nice", "-n", str(nice), *command]
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    if log is None:
        return subprocess.run(command, cwd=copy, env=env, text=True, capture_output=True)
    with log.open("w") as out:
        return subprocess.run(command, cwd=copy, env=env, text=True, stdout=out, stderr=subprocess.STDOUT)


def log_tail(log: Path, lines: int = 60) -> str:
    """The last ``lines`` lines of a mutmut log, spinner frames dropped."""
    text = log.read_text(errors="replace").replace("\r", "\n").splitlines()
    kept = [line for line in text if line.strip() and line.strip()[:1] not in "\u280b\u2819\u2839\u2838\u283c\u2834\u2826\u2827\u2807\u280f"]
    progress = [line for line in text if "/" in line and line.strip()[:1] in "\u280b\u2819\u2839\u2838\u283c\u2834\u2826\u2827\u2807\u280f"]
    return "\n".join(kept[-lines:] + progress[-1:])


#: Tests written to kill survivors (each test names its mutants): ``tests/test_survivors.py`` and one
#: ``tests/test_survivors_<module>.py`` a module where a module's kill tests got their own file.
SURVIVOR_TESTS = "test_survivors*.py"


def run_module(module: str, args: argparse.Namespace) -> dict[str, object]:
    copy = args.workdir / slug(module)
    if args.fresh or not (copy / "mutants").exists():
        copy_repository(copy, args.ref)
    else:  # keep mutmut's cache; refresh the sources and tests it compares against
        fresh = args.workdir / (slug(module) + ".new")
        copy_repository(fresh, args.ref)
        for name in (PACKAGE, "tests", "pyproject.toml"):
            target = copy / name
            shutil.rmtree(target) if target.is_dir() else target.unlink()
            shutil.move(str(fresh / name), str(target))
        shutil.rmtree(fresh)
    survivor_tests = tuple(sorted(f"tests/{p.name}" for p in (copy / "tests").glob(SURVIVOR_TESTS)))
    tests = (tuple(args.tests) if args.tests else MODULES[module]) + survivor_tests
    write_module_config(copy, module, tests)
    print(f"== {module}: mutmut over {' '.join(tests)} in {copy}", flush=True)
    log = copy / "mutmut-run.log"
    print(f"   mutmut's output: {log}", flush=True)
    names: list[str] = []
    if args.survivors:  # mutmut keeps a verdict while its function is unchanged: rerun last time's survivors by name
        previous = copy / "summary.json"
        names = list(json.loads(previous.read_text())["survivors"]) if previous.exists() else []
        print(f"   rerunning the {len(names)} survivors of the last run", flush=True)
    run = mutmut(copy, "run", "--max-children", str(args.max_children), *names, nice=args.nice, log=log)
    if run.returncode not in (0, 1):
        print(f"   mutmut run exited with {run.returncode}; the end of its output:\n{log_tail(log)}", flush=True)
    mutmut(copy, "export-cicd-stats")
    stats = json.loads((copy / "mutants" / "mutmut-cicd-stats.json").read_text())
    listing = mutmut(copy, "results").stdout
    survivors = [line.split(":")[0].strip() for line in listing.splitlines() if line.strip().endswith(": survived")]
    others = [line.strip() for line in listing.splitlines()
              if line.strip() and not line.strip().endswith((": survived", ": killed"))]
    diffs = [mutmut(copy, "show", name).stdout for name in survivors]
    (copy / "survivors.txt").write_text("\n".join(diffs))
    summary = {"module": module, **stats, "survivors": survivors, "other": others}
    (copy / "summary.json").write_text(json.dumps(summary, indent=2))
    total = int(stats["total"])
    killed = int(stats["killed"])
    score = 100.0 * killed / total if total else 100.0
    print(f"   {module}: {total} mutants, {killed} killed ({score:.1f}%), {stats['survived']} survived, "
          f"{stats['timeout']} timeout, {stats['no_tests']} no tests, {stats['suspicious']} suspicious", flush=True)
    if args.show:
        print("\n".join(diffs), flush=True)
    else:
        for name in survivors:
            print(f"     survived: {name}", flush=True)
    unchecked = sum(line.endswith(": not checked") for line in others)
    if unchecked:
        print(f"   {unchecked} mutants not checked: mutmut's first pass over the selection failed (a test that fails or "
              f"errors under mutmut: the end of {log} above names it); run `python -m pytest {' '.join(tests)}` in "
              f"{copy / 'mutants'} to see it", flush=True)
    for line in others:
        print(f"     {line}", flush=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help="modules relative to the package (default: all, in order)")
    parser.add_argument("--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "spacetx-mutmut")
    parser.add_argument("--ref", default=None, help="mutate the package as committed at REF (default: working tree)")
    parser.add_argument("--max-children", type=int, default=1, help="mutants run in parallel (default 1)")
    parser.add_argument("--nice", type=int, default=15, help="niceness of the run (default 15)")
    parser.add_argument("--fresh", action="store_true", help="forget mutmut's cached verdicts")
    parser.add_argument("--show", action="store_true", help="print every survivor's diff")
    parser.add_argument("--survivors", action="store_true",
                        help="rerun the last run's survivors too (after new tests: mutmut keeps a verdict while the mutated function is unchanged)")
    parser.add_argument("--list", action="store_true", help="list the modules and their tests, run nothing")
    parser.add_argument("--tests", nargs="+", help="a selection of test files to use instead of the module's own (a quicker, partial run)")
    args = parser.parse_args(argv)
    if args.list:
        for module, tests in MODULES.items():
            print(f"{module}: {' '.join(tests)}")
        return 0
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {unknown}; --list gives the known ones")
    args.workdir.mkdir(parents=True, exist_ok=True)
    summaries = [run_module(module, args) for module in (args.modules or list(MODULES))]
    return 1 if any(s["survivors"] for s in summaries) else 0


if __name__ == "__main__":
    sys.exit(main())
