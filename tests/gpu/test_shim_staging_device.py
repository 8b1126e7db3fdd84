"""The interposer's staging of one-sided communication, file I/O (split collectives
too), MPI_Isendrecv(_replace), MPI_Reduce_local, MPI_BOTTOM and partitioned communication
(MPI_Pready, MPI_Parrived) on device buffers (cuMemAlloc, "device" argument of the C
programs) on an MPI that is not CUDA-aware: the results of the same programs on host
buffers without the shim, every call staged; and what tempi refuses there (window memory,
a buffered-mode buffer): an error of class MPI_ERR_BUFFER on every rank, never device
memory handed to the MPI. Run by ``scripts/gpu-check shim``."""

from __future__ import annotations

import pytest
from mpi4py import MPI

from tests.test_shim import _lines, _plain, _tempi_run
from tests.test_shim_staging import (
    FILEIO,
    FILEIO_STAGED,
    MORE,
    MORE_STAGED,
    PARTITIONED,
    PARTITIONED_STAGED,
    RMA,
    RMA_STAGED,
    SPLIT,
    SPLIT_STAGED,
    staged_calls,
)

REFUSALS = (
    "win-create-device class MPI_ERR_BUFFER",
    "win-attach-device class MPI_ERR_BUFFER",
    "win-attach-host class MPI_SUCCESS",
    "buffer-attach-device class MPI_ERR_BUFFER",
    "buffer-attach-device says-tempi 1",
)
COMM_ATTACH = ("comm-attach-buffer-device class MPI_ERR_BUFFER",)
"""Where the MPI has MPI-4.1's MPI_Comm_attach_buffer (the shim then defines it)."""


@pytest.mark.parametrize("nranks", [2, 3])
@pytest.mark.parametrize(
    ("source", "staged"),
    [
        (RMA, RMA_STAGED),
        (FILEIO, FILEIO_STAGED),
        (SPLIT, SPLIT_STAGED),
        (MORE, MORE_STAGED),
        (PARTITIONED, PARTITIONED_STAGED),
    ],
)
def test_staged_families_on_device_buffers(program, tmp_path, nranks, source, staged):
    args = [str(tmp_path / "file")] if source in (FILEIO, SPLIT) else []
    plain = _plain(nranks, [program(source), *args])
    shim = _tempi_run(nranks, [program(source), "device", *args])
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    expected = _lines(plain.stdout, "rank")
    got = _lines(shim.stdout, "rank")
    refused = [r for r in got if r not in expected]
    assert [r for r in got if r in expected] == expected, shim.stdout
    assert staged_calls(shim.stderr) == [staged] * nranks, shim.stdout + shim.stderr
    if source == MORE:  # the refusals, on every rank, said once per kind on stderr
        refusals = REFUSALS + (COMM_ATTACH if MPI.Get_version() >= (4, 1) else ())
        want = sorted(f"rank {r} {what}" for r in range(nranks) for what in refusals)
        assert refused == want, refused
        assert "tempi: window memory" in shim.stderr, shim.stderr
        assert "tempi: a buffered-mode buffer" in shim.stderr, shim.stderr
    else:
        assert refused == [], refused
