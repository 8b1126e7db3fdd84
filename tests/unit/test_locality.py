"""Peer locality: what tempi knows of which ranks share this node, and that the strategy
choice follows it (a synthetic profile where the network is slow for device buffers)."""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from tempi.comm import engine, locality
from tempi.comm.strategy import choose_strategy
from tempi.model import choose
from tests.unit.test_model import VECTOR, synthetic

# device buffers cross the network slowly; host buffers as fast as on the node
REMOTE = {"mpi_gpu.remote": (50e-6, 0.5e9), "mpi_cpu.remote": (2e-6, 8e9)}


@pytest.fixture
def launcher(monkeypatch):
    """``launcher(**env)``: the launcher's variables for one test (none by default)."""
    for name in ("OMPI_COMM_WORLD_LOCAL_SIZE", "OMPI_COMM_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("MPI_LOCALNRANKS", "PMI_SIZE"):
        monkeypatch.delenv(name, raising=False)

    def set_env(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        locality.launcher_one_node.cache_clear()

    locality.launcher_one_node.cache_clear()
    yield set_env
    monkeypatch.undo()
    locality.launcher_one_node.cache_clear()


@pytest.fixture
def world():
    """``world(ranks)`` records the world ranks on this node for one test."""
    yield locality.set_world
    locality.set_world(None)


@pytest.fixture
def remote_profile(tempi_env, tmp_path):
    tempi_env(TEMPI_CACHE_DIR=str(tmp_path / "cache"))
    choose.use(synthetic(**REMOTE))
    yield
    choose.reset()


def test_known_ranks_decide(launcher):
    assert locality.peer_local(MPI.COMM_SELF, 0, frozenset({0}))
    assert locality.peer_local(MPI.COMM_SELF, 0, frozenset()) is False
    launcher(OMPI_COMM_WORLD_LOCAL_SIZE="4", OMPI_COMM_WORLD_SIZE="4")
    assert locality.peer_local(MPI.COMM_SELF, 0, frozenset()) is False


def test_unknown_without_knowledge(launcher, world):
    assert locality.peer_local(MPI.COMM_SELF, 0) is None
    assert locality.peer_local(MPI.COMM_SELF, MPI.ANY_SOURCE, frozenset({0})) is None
    assert locality.peer_local(MPI.COMM_SELF, MPI.PROC_NULL) is None


@pytest.mark.parametrize(
    "env, one_node",
    [
        ({"OMPI_COMM_WORLD_LOCAL_SIZE": "8", "OMPI_COMM_WORLD_SIZE": "8"}, True),
        ({"OMPI_COMM_WORLD_LOCAL_SIZE": "4", "OMPI_COMM_WORLD_SIZE": "8"}, False),
        ({"MPI_LOCALNRANKS": "2", "PMI_SIZE": "2"}, True),
        ({"MPI_LOCALNRANKS": "1", "PMI_SIZE": "2"}, False),
        ({"PMI_SIZE": "2"}, False),
    ],
)
def test_launcher_word(launcher, world, env, one_node):
    launcher(**env)
    assert locality.launcher_one_node() is one_node
    assert locality.peer_local(MPI.COMM_SELF, 0) is (True if one_node else None)


def test_world_ranks_from_the_interposer(launcher, world):
    me = MPI.COMM_WORLD.Get_rank()
    world(frozenset({me}))
    assert locality.peer_local(MPI.COMM_SELF, 0)  # COMM_SELF's 0 is this world rank
    if MPI.COMM_WORLD.Get_size() == 1:
        world(frozenset())
        assert locality.peer_local(MPI.COMM_SELF, 0) is False


def test_all_local():
    comm = MPI.COMM_SELF
    assert locality.all_local(comm, [0, MPI.PROC_NULL], frozenset({0}))
    assert locality.all_local(comm, [0, 0], frozenset()) is False
    assert locality.all_local(comm, [MPI.PROC_NULL]) is True


def test_choice_follows_locality(remote_profile):
    assert choose_strategy(VECTOR, 1 << 22, cuda_aware=True, peer_local=True) == "device"
    assert choose_strategy(VECTOR, 1 << 22, cuda_aware=True, peer_local=False) != "device"
    assert choose_strategy(VECTOR, 1 << 22, cuda_aware=True) == "device"  # unknown: local


def test_engine_sends_by_the_peer_locality(remote_profile, tempi_env, monkeypatch):
    """A send to self on COMM_SELF (host emulation, where device is allowed), once with the
    peer on this node and once with it elsewhere: the paths differ, the bytes do not. The
    host choice is pinned to packing: on the Open MPI wheel its built-in tables would send
    this 512 KiB host message by the MPI's own path, which is not what is tested here."""
    tempi_env(TEMPI_HOST="1", TEMPI_DATATYPE="auto")
    monkeypatch.setattr(choose, "pick_host", lambda nbytes, peer_local: "packed")
    column = MPI.DOUBLE.Create_vector(4096, 16, 128).Commit()
    try:
        data = np.arange(4096 * 128, dtype=np.float64)
        paths = []
        for local in (frozenset({0}), frozenset()):
            out = np.zeros_like(data)
            before = engine.paths()
            receive = engine.irecv(MPI.COMM_SELF, [out, 1, column], 0, 5, local_ranks=local)
            engine.isend(MPI.COMM_SELF, [data, 1, column], 0, 5, local_ranks=local).Wait()
            receive.Wait()
            after = engine.paths()
            paths.append({k for k in after if after[k] > before.get(k, 0)} - {"host"})
            mask = (np.arange(data.size) % 128) < 16
            assert np.array_equal(out[mask], data[mask]) and not out[~mask].any()
        assert paths[0] == {"device"}
        assert paths[1] and "device" not in paths[1]
    finally:
        column.Free()
