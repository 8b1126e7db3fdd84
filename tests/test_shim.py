"""The interposer on unmodified programs: a C program and an mpi4py program under
``tempi run``, with TEMPI_HOST=1 so CPU machines exercise the Python path. Outputs must
be identical to the same programs without the shim, and TEMPI_STATS must show that tempi
(or, where it should, the system MPI) did the work."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tempi import launch

HERE = Path(__file__).parent
ROUNDTRIP = HERE / "c" / "pack_roundtrip.c"
P2P = HERE / "c" / "p2p.c"
COLLECTIVES = HERE / "c" / "collectives.c"
PERSISTENT = HERE / "c" / "persistent.c"
THREADS = HERE / "c" / "threads.c"
ZERO_COUNTS = HERE / "c" / "zero_counts.c"
ROOTED = HERE / "c" / "rooted.c"
BOTTOM = HERE / "c" / "bottom.c"
BOTTOM_RECORDS = 3 * 6 + 1  # per rank: 6 calls for each of 3 types, then Alltoallw
MPI4PY_PACK = HERE / "c" / "mpi4py_pack.py"
LOCALITY_PROBE = HERE / "c" / "locality_probe.py"
CAPSULE_FIRST = HERE / "c" / "capsule_first.py"
HIDDEN_MODULES = HERE / "c" / "hidden_modules.py"


def _tempi_run(nranks: int, program: list[str], **variables: str) -> subprocess.CompletedProcess:
    env = launch.environment({**os.environ, "TEMPI_STATS": "1", **variables})
    cli = [sys.executable, "-m", "tempi.cli", "run", "-n", str(nranks), "--", *program]
    return subprocess.run(cli, env=env, capture_output=True, text=True, timeout=300)


def _plain(nranks: int, program: list[str]) -> subprocess.CompletedProcess:
    cmd = launch.command(nranks, program)
    return subprocess.run(
        cmd, env=launch.environment(), capture_output=True, text=True, timeout=300
    )


def _records(output: str, prefix: str) -> list[str]:
    """Every record starting with ``prefix`` (ranks share one pipe: a record may follow
    another on the same line)."""
    return [
        r.strip() for r in re.split(rf"(?={re.escape(prefix)})", output) if r.startswith(prefix)
    ]


def _lines(output: str, prefix: str) -> list[str]:
    return sorted(r.split("tempi[")[0].strip() for r in _records(output, prefix))


def _stats(output: str) -> list[dict[str, int]]:
    found = [r.split(": ", 1)[1].split("rank ")[0] for r in _records(output, "tempi[")]
    return [{k: int(v) for k, v in (item.split("=") for item in line.split())} for line in found]


def _stats_by_rank(output: str) -> dict[int, dict[str, int]]:
    """The counters of each rank, by rank (``tempi[r]: ...``)."""
    ranks = [int(r.split("[", 1)[1].split("]", 1)[0]) for r in _records(output, "tempi[")]
    return dict(zip(ranks, _stats(output)))


@pytest.mark.parametrize("nranks", [1, 2, 4])
def test_c_halo_and_alltoallv_through_tempi(program, nranks):
    """Neighbor_alltoallw halo on a periodic 3-D Cartesian communicator (1 and 2 ranks
    along a dimension included) and on a non-periodic one, Neighbor_alltoallv and
    Alltoallv with a vector type, Alltoallw with subarray types."""
    plain = _plain(nranks, [program(COLLECTIVES)])
    shim = _tempi_run(nranks, [program(COLLECTIVES)], TEMPI_HOST="1")
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
    stats = _stats(shim.stdout)
    assert len(stats) == nranks, shim.stdout + shim.stderr
    parts = 12 + 12 + 12 + 4 * nranks  # two halos (6 out, 6 in), neighbor_v, alltoallv/w
    assert all(c["packed_host"] == parts and c["passed_through"] == 0 for c in stats), stats


EXCHANGE = HERE / "c" / "exchange.c"
EXCHANGE_ROUNDS = 3


@pytest.mark.parametrize(
    ("nranks", "declined_rank", "python_rank"), [(2, 1, None), (3, 0, None), (2, 1, 0), (2, 0, 0)]
)
def test_a_rank_that_declines_exchanges_with_ranks_that_describe(
    program, nranks, declined_rank, python_rank
):
    """exchange.c --declined-rank: in an Alltoallw, one rank's parts with the others are of
    a type tempi cannot describe (negative extent), the others' are a vector tempi packs.
    No rank asks the others (no agreement per call): the declining rank sends and receives
    those parts as the MPI's typed messages on tempi's private communicator, its peers as
    packed ones, in Python's first call and in C's later ones alike, also against a rank on
    Python's path (TEMPI_PLANS=0): the plain run's bytes, and every call after the first
    in C on every rank that plans. (With the agreement gone and such parts not typed, the
    declining rank passed the call to the system MPI while its peers exchanged: a hang.)"""
    args = ["--rounds", str(EXCHANGE_ROUNDS), "--declined-rank", str(declined_rank)]
    if python_rank is not None:
        args += ["--python-rank", str(python_rank)]
    shim, data = _exchange_as_plain(program, nranks, args)
    assert sum(" declined round " in r for r in data) == nranks * EXCHANGE_ROUNDS
    calls = {
        int(r.split()[1]): int(r.split()[4].split("=")[1])
        for r in _lines(shim.stdout, "rank")
        if " phase declined " in r
    }
    assert sorted(calls) == list(range(nranks)), shim.stdout
    for rank, ran_in_c in calls.items():
        assert ran_in_c == (0 if rank == python_rank else EXCHANGE_ROUNDS - 1), calls
    stats = _stats_by_rank(shim.stdout)
    # the declining rank's typed parts: a send and a receive with each other rank per call
    assert stats[declined_rank]["passed_through"] == 2 * (nranks - 1) * EXCHANGE_ROUNDS, stats


def _exchange_as_plain(program, nranks, args):
    """exchange.c with ``args`` plainly and under the shim: the shim's run and its data
    lines, which must equal the plain run's."""
    plain = _plain(nranks, [program(EXCHANGE), *args])
    shim = _tempi_run(nranks, [program(EXCHANGE), *args], TEMPI_HOST="1")
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    data = [r for r in _lines(shim.stdout, "rank") if " phase " not in r]
    assert data == _lines(plain.stdout, "rank")
    return shim, data


@pytest.mark.parametrize("nranks", [2, 3])
def test_all_to_alls_on_intercommunicators_are_the_system_mpis(program, nranks):
    """exchange.c --inter: Alltoallv of a vector on an intercommunicator between rank 0 and
    the others goes to the system MPI on every rank (its parts are the remote group's;
    tempi's exchange took the local group's size and posted to ranks the remote group
    lacks): the plain run's bytes, nothing of it in C or Python."""
    args = ["--rounds", str(EXCHANGE_ROUNDS), "--inter"]
    shim, data = _exchange_as_plain(program, nranks, args)
    assert sum(" inter round " in r for r in data) == nranks * EXCHANGE_ROUNDS
    phases = [r for r in _lines(shim.stdout, "rank") if " phase inter " in r]
    assert len(phases) == nranks and all("c_calls=0" in r for r in phases), phases


@pytest.mark.parametrize("nranks", [1, 2, 4])
@pytest.mark.parametrize("strategy", ["device", "oneshot", "staged"])
def test_c_point_to_point_through_tempi(program, nranks, strategy):
    """Isend/Irecv completed by every completion call (Wait, Test, Waitany, Waitall,
    Testany, Testall, Waitsome, Testsome); Send, Ssend, Recv with wildcards and
    Get_count; Sendrecv with a short receive; Sendrecv_replace; Request_free;
    Request_get_status; a plain request made after tempi's progress completed the MPI
    request under one of tempi's."""
    plain = _plain(nranks, [program(P2P)])
    shim = _tempi_run(nranks, [program(P2P)], TEMPI_HOST="1", TEMPI_DATATYPE=strategy)
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    records = _lines(shim.stdout, "rank")
    assert records == _lines(plain.stdout, "rank")
    assert not any("WRONG" in r for r in records), records
    stats = _stats(shim.stdout)
    assert len(stats) == nranks, shim.stdout + shim.stderr
    messages = 34 if nranks == 1 else 36
    for counters in stats:
        # the plain messages (mixed Waitall, the handle check) are the system MPI's
        assert counters["packed_host"] == messages and counters["passed_through"] == 6, counters


@pytest.mark.parametrize("nranks", [1, 2, 3])
def test_c_mpi_bottom_through_tempi(program, nranks):
    """MPI_BOTTOM with absolute addresses (a struct over two arrays, a vector, a
    contiguous run) through Sendrecv, Isend/Recv, Irecv/Waitall, Pack/Unpack, Bcast and
    Alltoallw: the same bytes and counts as without the shim, and no error logged."""
    plain = _plain(nranks, [program(BOTTOM)])
    shim = _tempi_run(nranks, [program(BOTTOM)], TEMPI_HOST="1")
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    records = _lines(shim.stdout, "rank")
    assert records == _lines(plain.stdout, "rank")
    assert len(records) == BOTTOM_RECORDS * nranks, records
    assert "ERROR" not in shim.stderr, shim.stderr
    assert len(_stats(shim.stdout)) == nranks, shim.stdout + shim.stderr


# per rank: 4 persistent x 5 rounds, Rsend_init, freed, cancel (4), buffered (6), 3 one-shot
PERSISTENT_MESSAGES = 40
PERSISTENT_PLAIN = 6  # Recv_init and 5 Isend of a contiguous double


@pytest.mark.parametrize("nranks", [1, 2, 3])
@pytest.mark.parametrize("strategy", ["device", "oneshot", "staged"])
def test_c_persistent_requests_through_tempi(program, nranks, strategy):
    """Send_init, Ssend_init, Rsend_init and Recv_init restarted over rounds, completed by
    every completion call next to a plain persistent request; inactive requests; freeing
    an active one; cancelled receives; Bsend, Ibsend, Bsend_init; Issend, Irsend and
    Rsend."""
    plain = _plain(nranks, [program(PERSISTENT)])
    shim = _tempi_run(nranks, [program(PERSISTENT)], TEMPI_HOST="1", TEMPI_DATATYPE=strategy)
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    records = _lines(shim.stdout, "rank")
    assert records == _lines(plain.stdout, "rank")
    assert len(records) == (5 + 5 + 7) * nranks and "WRONG" not in shim.stdout, records
    stats = _stats(shim.stdout)
    assert len(stats) == nranks, shim.stdout + shim.stderr
    for counters in stats:
        assert counters["packed_host"] == PERSISTENT_MESSAGES, counters
        assert counters["passed_through"] == PERSISTENT_PLAIN, counters


def rooted_messages(rank: int, nranks: int) -> tuple[int, int]:
    """(tempi's messages, plain messages) of tests/c/rooted.c on a rank: the root packs both
    sides of everything; the others pass their plain-double Gather and Scatter on."""
    bcasts = 2 if nranks > 1 else 1
    if rank == 0:
        return bcasts + 6 * (1 + nranks), 0
    return bcasts + 2 + 2 * (1 + nranks), 2


@pytest.mark.parametrize("nranks", [1, 2, 3])
def test_c_rooted_collectives_through_tempi(program, nranks):
    """Bcast, Gather(v), Scatter(v), Allgather(v) with a vector type, the root of the
    Gather and Scatter using it against plain doubles elsewhere."""
    plain = _plain(nranks, [program(ROOTED)])
    shim = _tempi_run(nranks, [program(ROOTED)], TEMPI_HOST="1")
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    records = _lines(shim.stdout, "rank")
    assert records == _lines(plain.stdout, "rank") and len(records) >= 6 * nranks, records
    found = _stats_by_rank(shim.stdout)
    assert sorted(found) == list(range(nranks)), shim.stdout + shim.stderr
    for rank, counters in found.items():
        messages, passed = rooted_messages(rank, nranks)
        assert counters["packed_host"] == messages and counters["passed_through"] == passed, (
            counters
        )


@pytest.mark.parametrize("nranks", [2, 3])
def test_c_collective_where_a_rank_moves_nothing(program, nranks):
    """Rank 0's Alltoallv parts all have count 0: it must still go where its peers go."""
    plain = _plain(nranks, [program(ZERO_COUNTS)])
    shim = _tempi_run(nranks, [program(ZERO_COUNTS)], TEMPI_HOST="1")
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
    stats = _stats(shim.stdout)
    assert len(stats) == nranks, shim.stdout + shim.stderr
    assert sum(c["packed_host"] for c in stats) == 3 * 2 * (nranks - 1) ** 2, stats


@pytest.mark.parametrize("nranks", [1, 2, 3])
def test_c_threads_through_tempi(program, nranks):
    """MPI_THREAD_MULTIPLE: 4 threads per rank commit types, exchange (one-shot requests
    under every completion call, a persistent pair) and pack at the same time."""
    plain = _plain(nranks, [program(THREADS)])
    if "no MPI_THREAD_MULTIPLE" in plain.stdout:
        pytest.skip("this MPI does not provide MPI_THREAD_MULTIPLE")
    shim = _tempi_run(nranks, [program(THREADS)], TEMPI_HOST="1")
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    records = _lines(shim.stdout, "rank")
    assert records == _lines(plain.stdout, "rank")
    assert len(records) == 4 * nranks and "WRONG" not in shim.stdout, records
    stats = _stats(shim.stdout)
    assert len(stats) == nranks, shim.stdout + shim.stderr
    for counters in stats:  # per thread and iteration: 4 messages, a pack and an unpack
        assert counters["packed_host"] == 4 * 40 * (4 + 2), counters
        assert counters["passed_through"] == 0, counters


@pytest.mark.parametrize("nranks", [2, 4])
def test_c_pack_roundtrip_through_tempi(program, nranks):
    plain = _plain(nranks, [program(ROUNDTRIP)])
    shim = _tempi_run(nranks, [program(ROUNDTRIP)], TEMPI_HOST="1")
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
    assert len(_lines(plain.stdout, "rank")) == 12 * nranks
    stats = _stats(shim.stdout)
    assert len(stats) == nranks, shim.stdout
    for counters in stats:
        assert counters["packed_host"] == 12 + 12, counters  # 12 packs, 12 unpacks
        assert counters["passed_through"] == 0, counters


def test_host_memory_passes_through_without_tempi_host(program):
    shim = _tempi_run(2, [program(ROUNDTRIP)], TEMPI_HOST="0")
    assert shim.returncode == 0, shim.stderr
    stats = _stats(shim.stdout)
    assert len(stats) == 2, shim.stdout + shim.stderr
    for counters in stats:
        assert counters["packed_host"] == 0 and counters["passed_through"] == 24, counters


def test_disable_never_enters_python(program):
    shim = _tempi_run(2, [program(ROUNDTRIP)], TEMPI_HOST="1", TEMPI_DISABLE="1")
    assert shim.returncode == 0, shim.stderr
    assert _stats(shim.stdout) == []
    assert len(_lines(shim.stdout, "rank")) == 24


def test_broken_python_says_so_once_and_passes_through(program):
    plain = _plain(1, [program(ROUNDTRIP)])
    shim = _tempi_run(1, [program(ROUNDTRIP)], TEMPI_HOST="1", TEMPI_PYTHON="/nonexistent/python")
    assert shim.returncode == 0, shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
    assert shim.stderr.count("tempi: could not start Python/tempi") == 1


def test_mpi4py_program_under_the_shim():
    command = [sys.executable, str(MPI4PY_PACK)]
    plain = _plain(2, command)
    shim = _tempi_run(2, command, TEMPI_HOST="1")
    assert shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
    stats = _stats(shim.stdout)
    assert len(stats) == 2, shim.stdout + shim.stderr
    # a pack and an unpack; Alltoallv: 2 parts out, 2 in; Neighbor_alltoallw on a ring: 1 out, 1 in
    assert all(c["packed_host"] == 2 + 6 for c in stats), stats


@pytest.mark.parametrize("nranks", [2, 4])
def test_shim_learns_which_ranks_share_the_node(nranks):
    """The interposer finds the node's ranks in MPI_Init (here all of them) and hands
    them to the engine, which chooses strategies by the peer's locality."""
    shim = _tempi_run(nranks, [sys.executable, str(LOCALITY_PROBE)], TEMPI_HOST="1")
    assert shim.returncode == 0, shim.stdout + shim.stderr
    everyone = list(range(nranks))
    assert _lines(shim.stdout, "rank") == [f"rank {r} node {everyone}" for r in everyone]


@pytest.mark.parametrize("nranks", [1, 2])
def test_mpi4py_program_that_touched_a_capsule(nranks):
    """Python < 3.12: an attribute lookup on a PyCapsule before tempi starts used to hang
    cffi's embedding start-up (a spin lock on PyCapsule_Type.tp_version_tag); tempi must
    start and pack (TEMPI_HOST=1) with the same output as the plain run."""
    command = [sys.executable, str(CAPSULE_FIRST)]
    plain = _plain(nranks, command)
    shim = _tempi_run(nranks, command, TEMPI_HOST="1")
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
    stats = _stats(shim.stdout)
    assert len(stats) == nranks and all(
        sum(v for k, v in c.items() if "pass" not in k) > 0 for c in stats
    ), shim.stdout


@pytest.mark.parametrize("nranks", [1, 2, 3])
def test_mpi4py_program_that_hides_modules_after_start(nranks):
    """numba and CuPy made unimportable after tempi started: every call still completes on
    every rank with the plain run's output (tempi compiled its packers at start-up)."""
    command = [sys.executable, str(HIDDEN_MODULES)]
    plain = _plain(nranks, command)
    shim = _tempi_run(nranks, command, TEMPI_HOST="1")
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
    assert "ERROR" not in shim.stderr, shim.stderr
