"""The compiled kernels' runtime: whether they are used (:func:`available`, :func:`disabled`), how a
family module compiles its plain Python functions (:func:`compile_module`), the serial and parallel
builds of every kernel (``_BUILT``), and :func:`_run`, which runs one over an output's rows on the
call's thread count.

A kernel is a row function run over all rows by a serial or a parallel driver: numba's parallel
pass analyses only the driver's loop (its array analysis fails on some row bodies), the row code is
compiled once for both, and the two builds have names of their own (numba's disk cache keys its
files by module, function name and line, not by the ``parallel`` flag). The parallel build runs at
every thread count, one included: numba compiles a parallel loop's body apart (its own error model,
an unsigned loop index), and that body ran 1.2-1.7x faster on one thread than the same rows through
the serial driver (64^3 and 128^3 outputs, nearest and linear; ``benchmarks/bench_overhead.py``'s
kernel); the serial drivers now pass the tile index unsigned too, which closes part of the gap. The
serial build is for a forked process whose parent had started numba's thread pool (a parallel kernel,
or the user's own parallel numba code): GNU OpenMP aborts a forked child that starts a parallel region
after its parent did (a ``DataLoader`` worker).
Every kernel is compiled with numba's ``error_model="numpy"``, the model numba gives a parallel
loop's body: no kernel divides by a value that can be zero, and the Python model's zero checks kept
loops scalar.

A family may compile its kernels without numba's reference counting (``compile_module(...,
refcounts=False)``): every array a row passes to an inlined helper is a new reference, counted up and
down by an atomic instruction each, and numba's pruning leaves most of them where the row branches.
Label's rows spent 0.7 ms of a 4 ms call on them (sweep geometry 0: the kernel with its loops cut
out; 24% of the process's samples in ``perf``); without them label ran 26-29% faster, nearest 8-25% and
linear 7-16% (sweep geometries 0, 1, 3, 7, one thread); cubic, a call a row, did not move and counts them
still. Such a kernel cannot allocate: its caller gives each tile its scratch (:func:`per_tile`).
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from typing import Any, Callable, Optional, Sequence

import numpy as np

from ..threads import call_threads, torch_threads_kept

numba: Any
try:  # numba is a dependency, but the engine stays usable (torch path) where it cannot be imported
    numba = importlib.import_module("numba")
    importlib.import_module("numba.extending")
except ImportError:  # pragma: no cover - exercised only where numba is missing
    numba = None

#: ``MONAI_SPACETX_KERNELS=0`` turns the compiled kernels off (the torch path everywhere).
_ENV_OFF = os.environ.get("MONAI_SPACETX_KERNELS", "1").strip().lower() in ("0", "false", "no", "off")
_state = threading.local()
#: The process that started numba's thread pool (its first parallel kernel, or before a fork a parent's
#: own numba code: :func:`_after_fork_in_child`): a forked child (another pid) runs serial builds only.
_parallel_pid: Optional[int] = None


def _after_fork_in_child() -> None:
    """In a forked child whose parent had started numba's thread pool without a kernel of ours (the
    user's own parallel numba code, ``numba.get_num_threads()``), record the parent as the pool's
    process: the child runs the serial builds, as after a kernel of ours (GNU OpenMP aborts it otherwise)."""
    global _parallel_pid
    pool: Any = sys.modules.get("numba.np.ufunc.parallel")
    if _parallel_pid is None and getattr(pool, "_is_initialized", False):
        _parallel_pid = os.getppid()


if numba is not None and hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

#: Rows per tile side of the drivers' traversal (the tile is the parallel work unit too: 13 x 13 tiles
#: for a 200^3 target); see :mod:`._rows`.
TILE = 16


def available() -> bool:
    """Whether the compiled kernels are used on CPU tensors (numba importable, not switched off)."""
    return numba is not None and not _ENV_OFF and not getattr(_state, "off", False)


class disabled:
    """Context manager: the torch path for CPU tensors too, in the calling thread (tests compare both)."""

    def __enter__(self) -> None:
        self._before = getattr(_state, "off", False)
        _state.off = True

    def __exit__(self, *exc: object) -> None:
        _state.off = self._before


def _jit(fn: Callable[..., Any], **flags: Any) -> Any:
    """``numba.njit(cache=True, error_model="numpy", **flags)(fn)`` (see the module docstring); without a
    writable cache location anywhere (a read-only install and no writable ``NUMBA_CACHE_DIR`` or home)
    numba refuses ``cache=True``: compile in memory."""
    try:
        return numba.njit(cache=True, error_model="numpy", **flags)(fn)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return numba.njit(cache=False, error_model="numpy", **flags)(fn)


def _prefetch_codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
    """LLVM's ``prefetch`` (read, into every cache level) of ``array``'s element ``offset``: a hint that
    never faults, so an offset beyond the array is harmless."""
    ir: Any = importlib.import_module("llvmlite.ir")  # numba's own dependency (untyped: through importlib)
    cgutils: Any = importlib.import_module("numba.core.cgutils")
    array_type = signature.args[0]
    array = context.make_array(array_type)(context, builder, args[0])
    pointer = cgutils.get_item_pointer(context, builder, array_type, array, [args[1]], wraparound=False, boundscheck=False)
    i32 = ir.IntType(32)
    byte_pointer = builder.bitcast(pointer, ir.IntType(8).as_pointer())
    function = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer.type, i32, i32, i32]), "llvm.prefetch.p0")
    builder.call(function, [byte_pointer, i32(0), i32(3), i32(1)])
    return context.get_dummy_value()


def _prefetch_typing(typingctx: Any, array: Any, offset: Any) -> Any:
    """``prefetch(array, offset)``: a 1-D array and an unsigned integer offset (see :func:`_prefetch_codegen`)."""
    return numba.types.void(array, offset), _prefetch_codegen


#: ``prefetch(array, offset)`` in compiled code (numba intrinsic); the kernels ask for the source lines
#: of a row further on while they compute this one (see :func:`._rows._ahead_offset`).
prefetch: Any = numba.extending.intrinsic(_prefetch_typing) if numba is not None else None


#: Kernel name -> (serial build, parallel build); each family module adds its own.
_BUILT: dict[str, tuple[Any, Any]] = {}


def compile_module(namespace: dict[str, Any], helpers: Sequence[str], modes: Sequence[str], unit: str = "row",
                   refcounts: bool = True) -> None:
    """Compile a family module's plain functions in its own namespace (``globals()``): the ``helpers``
    inlined into the rows, then for each mode ``_<mode>_<unit>`` (the function the drivers call once
    per row, or once per tile of ``TILE x TILE`` rows with ``unit="tile"``) and its ``_<mode>_serial`` /
    ``_<mode>_parallel`` drivers, registered in ``_BUILT``. The compiled versions replace the plain
    ones, and the functions compiled after them find them there by global name. Nothing without numba.

    A call from a driver into a unit passes every array as a full structure and counts its
    references: about 50 ns, a voxel's work or more for nearest, so the fast kernels call once a
    tile (their row inlined into it). ``refcounts=False``: the units and drivers without numba's
    reference counting (see the module docstring; the helpers are inlined into them)."""
    if numba is None:
        return
    for name in helpers:
        namespace[name] = _jit(namespace[name], inline="always")
    counted = {} if refcounts else {"_nrt": False}
    for mode in modes:
        namespace[f"_{mode}_{unit}"] = _jit(namespace[f"_{mode}_{unit}"], nogil=True, **counted)
        _BUILT[mode] = (_jit(namespace[f"_{mode}_serial"], nogil=True, **counted),
                        _jit(namespace[f"_{mode}_parallel"], nogil=True, parallel=True, **counted))


def tiles(rows_a: int, rows_b: int) -> int:
    """The drivers' tiles over ``rows_a x rows_b`` rows (:data:`TILE` rows a side)."""
    return -(-rows_a // TILE) * -(-rows_b // TILE)


def per_tile(out_shape: np.ndarray, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """``(tiles, *shape)`` uninitialised scratch for a kernel without reference counting over a ``(N, A, B, L)``
    output: tile ``t`` works in ``[t]`` (no two threads share a tile)."""
    return np.empty((tiles(int(out_shape[1]), int(out_shape[2])), *shape), dtype=dtype)


#: Held while a parallel build runs where numba's threading layer is ``workqueue`` (neither TBB nor an
#: OpenMP runtime found, e.g. macOS without libomp): that layer aborts the process when two threads
#: launch parallel kernels at once (``ThreadDataLoader`` workers, a user's threads), so a call that
#: finds it held runs the serial build.
_ONE_LAUNCH = threading.Lock()
_workqueue = False


def _parallel_allowed() -> bool:
    """Whether this process may run parallel builds (see the module docstring); records that it does."""
    global _parallel_pid, _workqueue
    if _parallel_pid is not None and _parallel_pid != os.getpid():
        return False
    if _parallel_pid is None:
        with torch_threads_kept():
            numba.get_num_threads()  # starts numba's threading layer here, not in a kernel call (see torch_threads_kept)
        _workqueue = numba.threading_layer() == "workqueue"
    _parallel_pid = os.getpid()
    return True


def _kernel(name: str) -> Any:
    """The build of kernel ``name`` this process runs: the parallel one, but in a forked child of a
    process that ran it."""
    serial, parallel = _BUILT[name]
    return parallel if _parallel_allowed() else serial


def _run(name: str, out_shape: np.ndarray, *args: Any) -> None:
    """Run kernel ``name`` over the rows of a ``(N, A, B, L)`` output on the call's thread count
    (numba's count is per calling thread: set, then restored)."""
    rows_a, rows_b = int(out_shape[1]), int(out_shape[2])
    threads = min(call_threads(), numba.config.NUMBA_NUM_THREADS, max(1, tiles(rows_a, rows_b)))
    serial, kernel = _BUILT[name][0], _kernel(name)
    if kernel is serial or (_workqueue and not _ONE_LAUNCH.acquire(blocking=False)):
        serial(rows_a, rows_b, args)
        return
    before = numba.get_num_threads()
    try:
        if threads != before:
            numba.set_num_threads(threads)
        kernel(rows_a, rows_b, args)
    finally:
        if threads != before:
            numba.set_num_threads(before)
        if _workqueue:
            _ONE_LAUNCH.release()
