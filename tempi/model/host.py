"""Host memory: tempi's packed route or the system MPI's own typed path?

For a non-contiguous message in host memory (``TEMPI_HOST=1``) tempi packs into
``MPI_PACKED`` bytes, sends those, and unpacks. That is not always faster than what the
MPI does with the datatype itself: Open MPI keeps a vector message in its eager protocol
where the same number of contiguous bytes leaves it (4 KiB and up on its shared-memory
transport), while MPICH's own non-contiguous path collapses at 8 KiB. So the choice is
measured, per size class, on this machine and this MPI:

* ``host_typed.<where>``: one-way time of a ping-pong of the reference vector (8-byte
  blocks at a 64-byte stride) sent with its datatype (the system MPI's path);
* ``host_packed.<where>``: one-way time of the packed route for the same message: a
  ping-pong of as many ``MPI_PACKED`` bytes plus the pack and the unpack with the plan's
  own numba cfunc (what the interposer's C engine runs).

``<where>`` is ``local`` or ``remote`` (the peer's node), both over packed ``bytes``.
``tempi measure`` times them (:func:`measure`, two ranks); without them in the profile
the built-in tables below -- measured on the project's CPU machine for each wheel, and
labelled so -- are used when the loaded MPI is one of those, else tempi always packs (the
rule before this choice existed). :func:`pick` says ``system`` when the typed path is
predicted faster, else ``packed``.

Limits: the tables are timed for one layout (the reference vector), and the choice is by
size alone; a type with larger blocks packs faster and may be sent faster by the MPI too.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from tempi.log import get_logger
from tempi.model.profile import Profile
from tempi.model.table import Table
from tempi.model.timing import Sample, summarize

log = get_logger("model")

SIZES = (64, 256, 1024, 2048, 4096, 8192, 16384, 65536, 262144)
"""Packed bytes at which the two routes are timed."""

STRIDE_WORDS = 8
"""The reference vector: one 8-byte double every 8 doubles (64-byte stride)."""

BUILT_IN: dict[str, dict[str, Any]] = {}
"""Measured host tables per MPI family (a substring of the MPI library's version string),
filled below: {"source", "bytes", "typed_s", "packed_s"}."""


def tables_for(where: str) -> tuple[str, str]:
    return f"host_typed.{where}", f"host_packed.{where}"


def built_in(mpi_library: str) -> dict[str, Table] | None:
    """The built-in host tables for this MPI library (both localities alike), or None."""
    for family, data in BUILT_IN.items():
        if family.lower() in mpi_library.lower():
            coords = (tuple(data["bytes"]),)
            typed = Table(("bytes",), coords, np.array(data["typed_s"]))
            packed = Table(("bytes",), coords, np.array(data["packed_s"]))
            return {
                name: table
                for where in ("local", "remote")
                for name, table in zip(tables_for(where), (typed, packed))
            }
    return None


def host_tables(profile: Profile, peer_local: bool) -> tuple[Table, Table] | None:
    """(typed, packed) tables of ``profile`` for the peer's locality (the other locality
    if only that was measured), else the built-in ones of the loaded MPI, else None."""
    order = ("local", "remote") if peer_local else ("remote", "local")
    for where in order:
        typed, packed = tables_for(where)
        if typed in profile.tables and packed in profile.tables:
            return profile.tables[typed], profile.tables[packed]
    return None


def pick(profile: Profile, nbytes: int, *, peer_local: bool = True) -> str:
    """``system`` when the MPI's own typed path is predicted faster than tempi's packed
    route for ``nbytes`` packed bytes, else ``packed`` (also without any host tables)."""
    found = host_tables(profile, peer_local)
    if found is None:
        return "packed"
    typed, packed = found
    n = max(float(nbytes), 1.0)
    return "system" if typed(bytes=n) < packed(bytes=n) else "packed"


# ---- measurement (tempi measure; numba and mpi4py imported only here) ----------------


def _vector(nbytes: int) -> Any:
    from mpi4py import MPI

    blocks = max(nbytes // 8, 1)
    vector = MPI.DOUBLE.Create_vector(blocks, 1, STRIDE_WORDS).Commit()
    return vector, blocks


def _transfer_time(nbytes: int, reps: int = 200) -> float:
    """Seconds of one pack plus one unpack of the reference vector with its plan's cfunc
    (called through ctypes; the call's own cost, timed at two blocks, is taken off)."""
    import ctypes

    from tempi.shim import plans

    def per_call(n: int) -> float:
        vector, blocks = _vector(n)
        try:
            plan = plans.make(vector, vector.py2f(), 1)
            typed = np.zeros(blocks * STRIDE_WORDS, np.float64)
            packed = np.zeros(blocks, np.float64)
            fn = ctypes.CFUNCTYPE(
                None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64
            )(plan.transfer)
            t, p, a = typed.ctypes.data + plan.data_lb, packed.ctypes.data, plan.args
            best = float("inf")
            for _ in range(5):
                t0 = time.perf_counter()
                for _ in range(reps):
                    fn(t, p, a, 1)
                    fn(t, p, a, 0)
                best = min(best, (time.perf_counter() - t0) / reps)
            return best
        finally:
            plans.forget(vector.py2f())
            vector.Free()

    return max(per_call(nbytes) - per_call(16), 0.0)


def _round_trips(pair: Any, spec: list[Any], budget_s: float) -> Sample | None:
    """Half round trips of the mpi4py buffer ``spec`` between the two ranks of ``pair``
    (rank 0's; None on rank 1)."""
    from tempi.model._pingpong import half_round_trips

    stop = time.perf_counter() + budget_s
    times = half_round_trips(pair, spec, stop, batch=16, enough=64, most=2000)
    return summarize(times) if pair.rank == 0 else None


def measure(
    pair: Any, budget_s: float, sizes: tuple[int, ...] = SIZES
) -> dict[str, dict[int, Sample]] | None:
    """On rank 0 of the two-rank ``pair``: {"typed": {size index: one-way sample},
    "packed": {...}} (the packed route = the ``MPI_PACKED`` ping-pong plus the measured
    pack and unpack); None on rank 1. Sizes the budget leaves no time for are missing."""
    from mpi4py import MPI

    found: dict[str, dict[int, Sample]] = {"typed": {}, "packed": {}}
    deadline = time.perf_counter() + budget_s
    for i, nbytes in enumerate(sizes):
        share = max(deadline - time.perf_counter(), 0.0) / (len(sizes) - i)
        if not pair.bcast(share > 0.004 if pair.rank == 0 else None, root=0):
            break
        vector, blocks = _vector(nbytes)
        typed_buf = np.zeros(blocks * STRIDE_WORDS, np.float64)
        packed_buf = np.zeros(blocks * 8, np.uint8)
        try:
            typed = _round_trips(pair, [typed_buf, 1, vector], share / 2)
            wire = _round_trips(pair, [packed_buf, blocks * 8, MPI.PACKED], share / 2)
        finally:
            vector.Free()
        if pair.rank == 0:
            extra = _transfer_time(blocks * 8)
            found["typed"][i] = typed
            found["packed"][i] = Sample(wire.median_s + extra, wire.spread_s, wire.reps)
    return found if pair.rank == 0 else None


# ---- built-in tables: measured on the project's CPU machine --------------------------
# `mpiexec -n 2 python -m tempi.model.host` prints these; see benchmarks/RESULTS.md.

BUILT_IN["MPICH"] = {
    "source": "measured on the project's 2-core CPU VM, quiet (load 1.5), MPICH 5.0.2 wheel, 2026-12-01",
    "bytes": [64, 256, 1024, 2048, 4096, 8192, 16384, 65536, 262144],
    "typed_s": [
        3.01e-06,
        2.39e-06,
        2.6e-06,
        2.78e-06,
        4.18e-06,
        0.00053,
        4.77e-05,
        0.000144,
        0.000842,
    ],
    "packed_s": [
        2.42e-06,
        1.99e-06,
        2.42e-06,
        4.31e-06,
        5.96e-06,
        1.08e-05,
        1.62e-05,
        5.2e-05,
        0.000202,
    ],
}

BUILT_IN["Open MPI"] = {
    "source": "measured on the project's 2-core CPU VM, quiet (load 1.4), Open MPI 5.0.11 wheel, 2026-12-01",
    "bytes": [64, 256, 1024, 2048, 4096, 8192, 16384, 65536, 262144],
    "typed_s": [
        1.43e-06,
        1.09e-06,
        2.04e-06,
        3.24e-06,
        2.42e-06,
        3.46e-06,
        5.93e-06,
        1.69e-05,
        4.94e-05,
    ],
    "packed_s": [
        1.29e-06,
        9.13e-07,
        1.38e-06,
        1.99e-06,
        6.45e-06,
        9.39e-06,
        1.52e-05,
        5.19e-05,
        0.000237,
    ],
}


def main() -> int:
    """Two ranks: time both routes and print them as a BUILT_IN entry (rank 0)."""
    from mpi4py import MPI

    from tempi import system

    world = MPI.COMM_WORLD
    found = measure(world, 20.0)
    if world.rank == 0 and found is not None:
        index = sorted(found["typed"])
        print(f"# {system.mpi_library()}")
        print(f'"bytes": {[SIZES[i] for i in index]},')
        for route in ("typed", "packed"):
            times = [float(f"{found[route][i].median_s:.3g}") for i in index]
            print(f'"{route}_s": {times},')
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
