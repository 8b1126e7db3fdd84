"""The interposer's C engine (issue 14): host messages whose (datatype, count) Python has
planned once run in C. Programs that rely on MPI's progress rules (tests/c/progress.c)
give the same output under the shim as without it, on both thread levels, and TEMPI_STATS
shows the steady state: one plan miss per (datatype, count), no message through Python."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_shim import P2P, PERSISTENT, _lines, _plain, _stats_by_rank, _tempi_run

PROGRESS = Path(__file__).parent / "c" / "progress.c"
ROUNDS = 4
ENGINE_MESSAGES = ROUNDS * (1 + 2 + 2 + 2 + 2 + 2 + 2 + 2) + ROUNDS * 2 + 2 * 2 + 2 * 2
"""Vector messages of one rank of progress.c: per round Isend (its peer's packed doubles
are a plain receive), Isend + Recv twice, Ssend + Recv (or Sendrecv), Isend (freed at
once) + Recv, Isend + Recv around a barrier, around a probe and around a communicator
constructor; the ring's Send_init
and Recv_init started each round; a shorter message by Sendrecv and by Isend + Recv; two
Sendrecv of re-made types."""


@pytest.mark.parametrize("thread_level", ["single", "multiple"])
@pytest.mark.parametrize("nranks", [2, 3])
def test_progress_rules_hold_through_the_engine(program, nranks, thread_level):
    plain = _plain(nranks, [program(PROGRESS), thread_level])
    shim = _tempi_run(nranks, [program(PROGRESS), thread_level], TEMPI_HOST="1")
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
    assert len(_lines(plain.stdout, "rank")) == nranks * (9 * ROUNDS + 2 + 2)
    stats = _stats_by_rank(shim.stdout)
    assert sorted(stats) == list(range(nranks)), shim.stdout
    for rank, counts in stats.items():
        assert counts["packed_host"] == ENGINE_MESSAGES, (rank, counts)
        # the vector, the shorter one, two types made and freed: a plan each, on first sight
        assert counts["plan_misses"] == 4, (rank, counts)
        assert counts["in_python"] == 0, (rank, counts)


def test_without_tempi_host_the_engine_stays_out(program):
    """Host memory without TEMPI_HOST goes to the system MPI: no plans, no engine."""
    shim = _tempi_run(2, [program(PROGRESS)], TEMPI_HOST="0")
    assert shim.returncode == 0, shim.stderr
    for counts in _stats_by_rank(shim.stdout).values():
        assert counts["packed_host"] == counts["plan_misses"] == counts["in_python"] == 0
        assert counts["passed_through"] > 0


def test_plans_off_takes_the_python_path(program):
    """TEMPI_PLANS=0: the same output, every tempi message through Python, no plans."""
    plain = _plain(2, [program(PROGRESS)])
    shim = _tempi_run(2, [program(PROGRESS)], TEMPI_HOST="1", TEMPI_PLANS="0")
    assert shim.returncode == 0, shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
    for counts in _stats_by_rank(shim.stdout).values():
        assert counts["plan_misses"] == 0, counts
        assert counts["in_python"] == counts["packed_host"] == ENGINE_MESSAGES, counts


# ---- device plans, as far as the CPU can check them (the GPU runs tests/gpu/test_engine_device.py)


def _vector(count: int, blocklength: int, stride: int):
    from mpi4py import MPI

    return MPI.DOUBLE.Create_vector(count, blocklength, stride)


@pytest.mark.parametrize(
    "shape", [(64, 1, 3), (16, 4, 9), (8, 32, 40), (5, 3, 4)], ids=lambda s: "x".join(map(str, s))
)
@pytest.mark.parametrize("count", [1, 3])
def test_device_launch_is_the_python_paths_launch(commit, shape, count):
    """A device plan launches the kernel tempi/pack/cuda.py launches for word-aligned
    staging and buffers, with the same grid and block, and its argument block holds the
    struct pack.cuh reads (start, block, nblocks, ... in words)."""
    import numpy as np

    from tempi.datatype import describe
    from tempi.pack import cuda
    from tempi.shim import plans

    datatype = commit(_vector(*shape))
    desc = describe(datatype).repeat(count)
    launch = plans.device_launch(desc, sms=132)
    word = cuda.word_size(desc, 4096, 1 << 20)  # what the Python path picks for aligned memory
    expected = cuda.plan(desc, word, 132)
    assert launch is not None and launch.word_b == word
    assert (launch.name, launch.grid, launch.block) == (
        expected.name,
        expected.grid,
        expected.block,
    )
    assert launch.name in cuda.kernel_names()
    assert launch.kargs.tobytes() == np.array([expected.args]).tobytes()
    words = np.frombuffer(launch.kargs.tobytes(), np.int64)
    assert launch.kargs.size == expected.args.dtype.itemsize
    assert words[1] == desc.block // word  # tempi_strided_args.block
    assert words[2] == int(np.prod(desc.counts))  # .nblocks


def test_contiguous_device_data_gets_no_launch(commit):
    from mpi4py import MPI

    from tempi.datatype import describe
    from tempi.shim import plans

    datatype = commit(MPI.DOUBLE.Create_contiguous(8))
    assert plans.device_launch(describe(datatype).repeat(2), sms=132) is None


def test_device_plan_fields_round_trip_through_the_struct():
    """C fills memory, comm and peer; Python's answer comes back field for field."""
    import ctypes

    from tempi.shim import plans

    ask = plans.Plan(memory=plans.DEVICE, comm=5, peer=3, peer_local=-1)
    raw = ctypes.create_string_buffer(ctypes.sizeof(plans.Plan))
    ctypes.memmove(raw, ctypes.addressof(ask), ctypes.sizeof(ask))
    seen = plans.Plan.from_address(ctypes.addressof(raw))
    assert (seen.memory, seen.comm, seen.peer, seen.peer_local) == (1, 5, 3, -1)
    names = [name for _, name, _ in plans.FIELDS]
    assert len(names) == len(set(names))
    for name in ("function", "kargs", "kargs_b", "grid_x", "block_z", "stage_host_b"):
        assert name in names


def test_progress_step_runs_before_blocking_calls_only():
    """Every entry point starts with the progress step; the ones that may wait on a peer
    wait for pending device packs first (blocking 1)."""
    from tempi.shim import generate, spec

    source = generate.source()
    for entry in spec.ENTRIES:
        if entry.name in ("MPI_Init", "MPI_Init_thread"):
            continue
        text = generate.function(entry, "")
        assert f"tempi_i_progress({int(generate.blocking(entry.name))})" in text, entry.name
    assert "tempi_i_progress" in source
    for name in ("MPI_Recv", "MPI_Wait", "MPI_Waitall", "MPI_Send", "MPI_Ssend", "MPI_Finalize"):
        assert generate.blocking(name), name
    for name in ("MPI_Barrier", "MPI_Probe", "MPI_Intercomm_create", "MPI_Win_create"):
        assert generate.blocking(name), name
    for name in ("MPI_Isend", "MPI_Irecv", "MPI_Test", "MPI_Start", "MPI_Send_init", "MPI_Iprobe"):
        assert not generate.blocking(name), name


def test_calls_that_can_wait_on_a_peer_pass_through_after_the_progress_step():
    """Every call of PROGRESS_NEEDS is an entry point (so device sends are deferred); the
    ones tempi takes nothing from are the progress step, then the system MPI's same call."""
    from tempi.shim import generate, spec

    entries = {e.name: e for e in spec.ENTRIES}
    assert set(generate.PROGRESS_NEEDS) <= set(entries)
    assert "#define TEMPI_ENGINE_DEFER_SENDS 1" in generate.header()
    passing = [e for e in spec.ENTRIES if e.family == "progress step"]
    assert {e.name for e in passing} | {"MPI_Finalize"} == set(generate.PROGRESS_NEEDS)
    for entry in passing:
        name, params = entry.form("")
        body = generate.function(entry, "").split("{", 1)[1]
        step = f"tempi_i_progress({int(generate.blocking(entry.name))});"
        assert body.split("\n")[1].strip().startswith(step), entry.name
        assert f"return P{name}(" in body and body.count(";") == 2, entry.name


def test_device_sends_are_deferred_only_when_every_blocking_call_progresses(monkeypatch):
    """TEMPI_ENGINE_DEFER_SENDS is 1 only when every call of PROGRESS_NEEDS is an entry
    point (so the progress step runs before MPI_Barrier & co.); a spec without them keeps
    the post inside MPI_Isend."""
    from types import SimpleNamespace

    from tempi.shim import generate, spec

    names = {e.name for e in spec.ENTRIES}
    expected = all(name in names for name in generate.PROGRESS_NEEDS)
    assert f"#define TEMPI_ENGINE_DEFER_SENDS {int(expected)}" in generate.header()
    extra = [SimpleNamespace(name=name) for name in generate.PROGRESS_NEEDS]
    monkeypatch.setattr(spec, "ENTRIES", [*spec.ENTRIES, *extra])
    assert generate.defer_sends()
    monkeypatch.setattr(spec, "ENTRIES", [e for e in spec.ENTRIES if e.name != "MPI_Barrier"])
    assert not generate.defer_sends()


# ---- the device engine on the CPU, with a stand-in CUDA driver ---------------------------


@pytest.fixture(scope="module")
def fake_cuda(tmp_path_factory) -> dict[str, str]:
    """The environment that makes tests/fake_cuda/libcuda.c the process's libcuda.so.1
    (devmem.h loads it for "device" buffers) and its sitecustomize plan for it."""
    import shutil

    from tests.fake_cuda import build_driver, environment

    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler")
    where = tmp_path_factory.mktemp("fake_cuda")
    build_driver(where)
    return environment(where)


@pytest.mark.parametrize(
    ("strategy", "nranks", "thread_level"),
    [("oneshot", 2, "single"), ("staged", 3, "multiple"), ("device", 2, "multiple")],
)
def test_device_engine_keeps_the_progress_rules_with_a_stand_in_driver(
    program, fake_cuda, strategy, nranks, thread_level
):
    """native/engine_device.c on the CPU: "device" buffers from the stand-in driver, its
    host "kernel", events that are not ready on their first query. progress.c's output
    equals the plain host run; every vector message ran in the device engine with the
    forced strategy, none through Python. (The real driver and kernels: the GPU tests.)"""
    plain = _plain(nranks, [program(PROGRESS), thread_level])
    shim = _tempi_run(
        nranks,
        [program(PROGRESS), "device", thread_level],
        TEMPI_DATATYPE=strategy,
        **fake_cuda,
    )
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
    stats = _stats_by_rank(shim.stdout)
    assert sorted(stats) == list(range(nranks)), shim.stdout + shim.stderr
    counter = {"device": "device_direct"}.get(strategy, strategy)
    for rank, counts in stats.items():
        assert counts[counter] == ENGINE_MESSAGES, (rank, counts)
        assert counts["in_python"] == 0, (rank, counts)
        # a plan on the first sight of each type and count, and of each peer (C learns
        # its locality from Python's answer): the vector to its partner and the ring's two
        # neighbours, the shorter type, two re-made types
        assert 4 <= counts["plan_misses"] <= 8, (rank, counts)


@pytest.mark.parametrize(("nranks", "thread_level"), [(2, "single"), (3, "multiple")])
def test_device_system_plans_run_in_c_on_a_cuda_aware_mpi(program, fake_cuda, nranks, thread_level):
    """A device message whose pick is the system MPI's own path (forced by the stand-in's
    FAKE_CUDA_PICK=system, on an MPI declared CUDA-aware by TEMPI_CUDA_AWARE=1) is a plan
    too: after its first sight C hands the user's "device" buffer and datatype to PMPI_*
    itself (blocking, Isend/Irecv, the persistent ring), none through Python, nothing
    packed; passed_through counts each such message (a persistent one at its _init) on top
    of what the same run with a packing strategy passes. progress.c's bytes equal the plain host run."""
    args = [program(PROGRESS), "device", thread_level]
    plain = _plain(nranks, [program(PROGRESS), thread_level])
    packed = _tempi_run(nranks, args, TEMPI_DATATYPE="oneshot", TEMPI_CUDA_AWARE="1", **fake_cuda)
    shim = _tempi_run(nranks, args, FAKE_CUDA_PICK="system", TEMPI_CUDA_AWARE="1", **fake_cuda)
    for run in (plain, packed, shim):
        assert run.returncode == 0, run.stdout + run.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
    assert _lines(packed.stdout, "rank") == _lines(plain.stdout, "rank")
    stats, before = _stats_by_rank(shim.stdout), _stats_by_rank(packed.stdout)
    assert sorted(stats) == sorted(before) == list(range(nranks)), shim.stdout + shim.stderr
    for rank, counts in stats.items():
        assert before[rank]["oneshot"] == ENGINE_MESSAGES, (rank, before[rank])
        for name in ("device_direct", "oneshot", "staged", "packed_device", "in_python"):
            assert counts[name] == 0, (rank, name, counts)
        # the ring's Send_init and Recv_init count once each, as every persistent request
        # the interposer hands the MPI does (its MPI_Start calls are the MPI's own)
        passed = ENGINE_MESSAGES - 2 * ROUNDS + 2
        assert counts["passed_through"] == before[rank]["passed_through"] + passed, (
            rank,
            counts,
            before[rank],
        )
        assert counts["plan_misses"] == before[rank]["plan_misses"], (rank, counts)


@pytest.mark.parametrize("nranks", [1, 2])
@pytest.mark.parametrize("which", ["p2p", "persistent"])
def test_device_system_plans_give_plain_results(program, fake_cuda, which, nranks):
    """tests/c/p2p.c (every completion call, wildcards, Get_count, a short receive,
    Sendrecv_replace, Request_free) and persistent.c (Send/Ssend/Bsend/Rsend_init,
    Recv_init, Startall, Issend, Irsend) on "device" buffers with the system pick on a
    CUDA-aware MPI: plain MPI's records; every message handed to the MPI as it is, the
    vectors by their plans: Python is asked once per (count, peer locality), where without
    a plan (the same run packing) it is asked at every vector message."""
    source = P2P if which == "p2p" else PERSISTENT
    plain = _plain(nranks, [program(source)])
    shim = _tempi_run(
        nranks,
        [program(source), "device"],
        FAKE_CUDA_PICK="system",
        TEMPI_CUDA_AWARE="1",
        **fake_cuda,
    )
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    records = _lines(shim.stdout, "rank")
    assert records == _lines(plain.stdout, "rank")
    assert not any("WRONG" in r for r in records), records
    stats = _stats_by_rank(shim.stdout)
    assert sorted(stats) == list(range(nranks)), shim.stdout + shim.stderr
    # test_shim_system's count for p2p.c (messages + 6 plain ones); persistent.c's 23
    # persistent and one-shot vector requests (each counted once) and its 6 plain ones
    passed = (34 if nranks == 1 else 36) + 6 if which == "p2p" else 29
    for rank, counts in stats.items():
        for name in ("device_direct", "oneshot", "staged", "packed_device", "in_python"):
            assert counts[name] == 0, (rank, name, counts)
        assert counts["passed_through"] == passed, (rank, counts)
        assert 1 <= counts["plan_misses"] <= 3, (rank, counts)


@pytest.mark.parametrize("strategy", ["device", "oneshot", "staged", "system"])
@pytest.mark.parametrize("cuda_aware", [True, False])
def test_device_plans_stage_what_their_strategy_needs(strategy, cuda_aware):
    """plans.device_plan, the one rule for make_device (and the stand-in's): a system plan
    stages nothing and exists only on an MPI that reads device memory (never handed a
    device buffer otherwise: no plan, Python's path packs); the others as before."""
    from tempi.shim import plans

    made = plans.device_plan(
        plans.Plan(nbytes=96, memory=plans.DEVICE, function=1), strategy, cuda_aware=cuda_aware
    )
    if strategy == "system" and not cuda_aware:
        assert made is None
        return
    assert made is not None and made.strategy == plans.STRATEGIES.index(strategy)
    assert made.stage_device_b == (96 if strategy in ("device", "staged") else 0)
    assert made.stage_host_b == (96 if strategy in ("oneshot", "staged") else 0)
    assert plans.device_plan(plans.Plan(nbytes=96), "bogus", cuda_aware=True) is None


# ---- MPI_Pack / MPI_Unpack in the C engine ------------------------------------------------

PACK = Path(__file__).parent / "c" / "pack_engine.c"
PACK_CALLS = ROUNDS * (2 + 1 + 1 + 1 + 2)
"""MPI_Pack/MPI_Unpack calls of one rank of pack_engine.c that move data: per round two
packs and an unpack in one buffer, a pack and an unpack through a host buffer at an odd
position, two unpacks of the peer's bytes."""


def test_pack_and_unpack_run_in_the_host_engine(program):
    plain = _plain(2, [program(PACK)])
    shim = _tempi_run(2, [program(PACK)], TEMPI_HOST="1")
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
    assert len(_lines(plain.stdout, "rank")) == 2 * 4 * ROUNDS
    for rank, counts in _stats_by_rank(shim.stdout).items():
        assert counts["packed_host"] == PACK_CALLS, (rank, counts)


def test_device_pack_and_unpack_run_in_c_with_a_stand_in_driver(program, fake_cuda):
    """Device MPI_Pack/MPI_Unpack through native/engine_device.c (tempi_i_device_pack): the
    plan's kernel straight into device packed bytes, or through the slot's scratch and one
    copy for a host buffer; the same bytes as the plain host run, none through Python."""
    plain = _plain(2, [program(PACK)])
    shim = _tempi_run(2, [program(PACK), "device"], **fake_cuda)
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
    stats = _stats_by_rank(shim.stdout)
    assert sorted(stats) == [0, 1], shim.stdout + shim.stderr
    for rank, counts in stats.items():
        assert counts["packed_device"] == PACK_CALLS, (rank, counts)
        assert counts["in_python"] == 0, (rank, counts)
        assert counts["plan_misses"] == 1, (rank, counts)  # the vector, once


# ---- the batched exchanges in C after warm-up (issue 14, Deliver 2) ------------------------

EXCHANGE = Path(__file__).parent / "c" / "exchange.c"
EXCHANGE_ROUNDS = 3


def _phases(output: str) -> dict[tuple[int, str], tuple[int, int]]:
    """(rank, phase) -> (calls that ran in C, plan misses) from exchange.c's phase lines."""
    found = {}
    for line in _lines(output, "rank"):
        words = line.split()
        if len(words) == 6 and words[2] == "phase":
            calls, misses = (int(w.split("=")[1]) for w in words[4:6])
            found[int(words[1]), words[3]] = (calls, misses)
    return found


def _data(output: str) -> list[str]:
    return [line for line in _lines(output, "rank") if " phase " not in line]


@pytest.mark.parametrize(("nranks", "python_rank"), [(2, None), (4, None), (2, 1), (3, 0)])
def test_exchanges_run_in_c_after_their_first_call(program, nranks, python_rank):
    """tests/c/exchange.c: Neighbor_alltoallw rounds on a Cartesian communicator, again
    after its types are freed and made again (planned again, still in C), on a new
    communicator after the first is freed (its first call Python's again), then
    Alltoallw and Alltoallv on MPI_COMM_WORLD (one context: Alltoallv's first call is C's
    already). The same bytes as the plain run; a rank with TEMPI_PLANS=0 takes Python's
    path every call and still matches the ranks that run in C."""
    args = ["--rounds", str(EXCHANGE_ROUNDS)]
    if python_rank is not None:
        args += ["--python-rank", str(python_rank)]
    plain = _plain(nranks, [program(EXCHANGE), *args])
    shim = _tempi_run(nranks, [program(EXCHANGE), *args], TEMPI_HOST="1")
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _data(shim.stdout) == _lines(plain.stdout, "rank")
    assert len(_data(plain.stdout)) == nranks * 5 * EXCHANGE_ROUNDS
    phases, stats = _phases(shim.stdout), _stats_by_rank(shim.stdout)
    assert sorted(stats) == list(range(nranks)), shim.stdout + shim.stderr
    later = EXCHANGE_ROUNDS - 1
    for rank in range(nranks):
        if rank == python_rank:
            assert all(phases[rank, p][0] == 0 for p in ("halo", "alltoallv")), phases
            continue
        assert phases[rank, "halo"][0] == later, phases
        calls, misses = phases[rank, "retyped"]
        assert calls == EXCHANGE_ROUNDS and misses == 12, phases  # 12 new types planned
        assert phases[rank, "recomm"][0] == later, phases
        assert phases[rank, "alltoallw"][0] == later, phases
        assert phases[rank, "alltoallv"][0] == EXCHANGE_ROUNDS, phases
        # only the first call of each context went through Python: the halo's 12 parts on
        # each Cartesian communicator and Alltoallw's 2 * nranks
        assert stats[rank]["in_python"] == 24 + 2 * nranks, (rank, stats[rank])


def test_device_exchanges_run_in_c_with_a_stand_in_driver(program, fake_cuda):
    """The same program on the stand-in driver's device buffers: the same bytes as the plain
    host run; Alltoallw and Alltoallv after their first call in C through the device engine
    (oneshot), none of their parts through Python then. (The halo's faces the device model
    hands to the MPI unpacked have no device plan: those calls stay Python's.)"""
    args = ["--rounds", str(EXCHANGE_ROUNDS)]
    plain = _plain(2, [program(EXCHANGE), *args])
    shim = _tempi_run(
        2, [program(EXCHANGE), "device", *args], TEMPI_DATATYPE="oneshot", **fake_cuda
    )
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _data(shim.stdout) == _lines(plain.stdout, "rank")
    phases, stats = _phases(shim.stdout), _stats_by_rank(shim.stdout)
    assert sorted(stats) == [0, 1], shim.stdout + shim.stderr
    for rank in (0, 1):
        assert phases[rank, "alltoallw"][0] == EXCHANGE_ROUNDS - 1, phases
        assert phases[rank, "alltoallv"][0] == EXCHANGE_ROUNDS, phases
        # 4 parts a call on 2 ranks: every call but Alltoallw's first in the device engine
        assert stats[rank]["oneshot"] == 4 * (2 * EXCHANGE_ROUNDS - 1), (rank, stats[rank])
