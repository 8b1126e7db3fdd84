"""The interposer's side of placement: ``tempi_py_topology``, which native/topology.c calls
for MPI_Cart_create, MPI_Dist_graph_create_adjacent and MPI_Dist_graph_create with
``reorder = 1`` (on every rank of the old communicator, each knowing the others got here).

It returns tempi.shim.callbacks' codes: OK with the new communicator's Fortran handle in
``fmade[0]``, PASS when the system MPI should make it (the same answer on every rank), or
an MPI error. Imports nothing heavy until called: tempi.shim.callbacks imports it early.
"""

from __future__ import annotations

from typing import Any

from tempi.shim.spec import TOPOLOGY_KINDS

CART, ADJACENT, GRAPH = (TOPOLOGY_KINDS.index(k) for k in ("CART", "ADJACENT", "GRAPH"))
"""The kinds of native/topology.c (TEMPI_I_TOPO_*), numbered by tempi.shim.spec."""


def _ints(pointer: Any, count: int) -> list[int]:
    """``count`` C ints (an empty array may be NULL)."""
    return [int(pointer[i]) for i in range(count)]


def _weights(pointer: Any, count: int) -> list[int] | None:
    """``count`` weights, or None for NULL (MPI_UNWEIGHTED)."""
    return _ints(pointer, count) if pointer else None


def topology(
    kind: int,
    fcomm: int,
    n: int,
    a: Any,
    b: Any,
    m: int,
    c: Any,
    d: Any,
    finfo: int,
    fmade: Any,
) -> int:
    from mpi4py import MPI

    from tempi.shim.callbacks import OK, PASS, _error
    from tempi.topology import reorder

    try:
        comm = MPI.Intracomm(MPI.Comm.f2py(fcomm))
        info = MPI.Info.f2py(finfo)
        if kind == CART:
            made = reorder.cart(comm, _ints(a, n), _ints(b, n))
        elif kind == ADJACENT:
            made = reorder.dist_graph_adjacent(
                comm, _ints(a, n), _ints(c, m), _weights(b, n), _weights(d, m), info
            )
        else:
            made = reorder.dist_graph(
                comm, _ints(a, n), _ints(b, n), _ints(c, m), _weights(d, m), info
            )
        if made is None:
            return PASS
        fmade[0] = made.py2f()
        return OK
    except Exception as exc:  # noqa: BLE001 - nothing may cross into C
        return _error(exc)
