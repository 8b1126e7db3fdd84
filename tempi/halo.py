"""A 3-D halo exchange: what ``tempi demo`` runs and ``benchmarks/halo`` measures.

A periodic global grid is split over the ranks (``MPI.Compute_dims``); each rank holds a
block of ``n^3`` cells with ``radius`` ghost layers and ``quantities`` float64 values per
cell, and exchanges all 26 faces, edges and corners with its neighbours, one subarray
datatype each:

* ``tempi-alltoallw`` -- ``tempi.Comm.Neighbor_alltoallw`` on a distributed-graph
  communicator of the 26 neighbours;
* ``tempi-isend``     -- 26 ``Irecv`` + 26 ``Isend`` of ``[grid, 1, subarray]`` and
  ``tempi.Request.Waitall``;
* ``baseline``        -- what a Python user does today: slice each face, copy it
  contiguous (``ascontiguousarray``), bring it to the host, send it with mpi4py, and copy
  the received faces back into the ghost cells.

Every cell of a rank's block holds a value computed from its global coordinates, so each
rank checks its ghosts after every method. Run under MPI::

    mpiexec -n 4 python -m tempi.halo [--n 32] [--radius 1] [--quantities 2] [--iters 20]

Without a GPU (or with ``--host``) the arrays are NumPy arrays and ``TEMPI_HOST=1`` routes
them through tempi's engine.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

DIRECTIONS = [d for d in itertools.product((-1, 0, 1), repeat=3) if d != (0, 0, 0)]


@dataclass
class Block:
    """One rank's share of the grid and the datatypes of its 26 exchanges."""

    n: int
    radius: int
    quantities: int
    dims: tuple[int, int, int]
    coords: tuple[int, int, int]
    sources: list[int]
    destinations: list[int]

    @property
    def shape(self) -> tuple[int, int, int, int]:
        side = self.n + 2 * self.radius
        return (side, side, side, self.quantities)

    def region(self, direction: tuple[int, int, int], ghost: bool) -> tuple[slice, ...]:
        """Cells sent toward ``direction`` (ghost=False) or received from the neighbour
        on the opposite side into the ghost layer (ghost=True, direction negated)."""
        n, r = self.n, self.radius
        spans = []
        for d in direction:
            if d == 0:
                spans.append(slice(r, r + n))
            elif ghost:
                spans.append(slice(0, r) if d < 0 else slice(n + r, n + 2 * r))
            else:
                spans.append(slice(r, 2 * r) if d < 0 else slice(n, n + r))
        return (*spans, slice(None))

    def expected(self, xp: Any) -> Any:
        """Every cell's value, ghosts included: a function of its global coordinates."""
        side = self.n + 2 * self.radius
        axes = []
        for axis in range(3):
            local = np.arange(side) - self.radius + self.coords[axis] * self.n
            axes.append(local % (self.dims[axis] * self.n))
        gz, gy, gx = np.meshgrid(*axes, indexing="ij")
        extent = [d * self.n for d in self.dims]
        cell = (gz * extent[1] + gy) * extent[2] + gx
        values = cell[..., None] * self.quantities + np.arange(self.quantities)
        return xp.asarray(values.astype(np.float64))


def decompose(comm: Any, n: int, radius: int, quantities: int) -> Block:
    from mpi4py import MPI

    dims = MPI.Compute_dims(comm.Get_size(), 3)
    cart = comm.Create_cart(dims, periods=[True] * 3)
    coords = tuple(cart.Get_coords(cart.Get_rank()))

    def rank_at(offset: tuple[int, int, int]) -> int:
        return cart.Get_cart_rank([(c + o) % d for c, o, d in zip(coords, offset, dims)])

    destinations = [rank_at(d) for d in DIRECTIONS]
    sources = [rank_at(tuple(-x for x in d)) for d in DIRECTIONS]
    cart.Free()
    return Block(n, radius, quantities, tuple(dims), coords, sources, destinations)


def subarrays(block: Block) -> tuple[list[Any], list[Any]]:
    """Committed send and receive subarray types, one per direction (source i sends
    toward +d_i what lands in my ghost layer on side -d_i)."""
    from mpi4py import MPI

    def subarray(region: tuple[slice, ...]) -> Any:
        shape = block.shape
        sub = [s.stop - s.start if s.start is not None else n for s, n in zip(region, shape)]
        starts = [s.start or 0 for s in region]
        return MPI.DOUBLE.Create_subarray(list(shape), sub, starts).Commit()

    sends = [subarray(block.region(d, ghost=False)) for d in DIRECTIONS]
    recvs = [subarray(block.region(tuple(-x for x in d), ghost=True)) for d in DIRECTIONS]
    return sends, recvs


def _ghost_error(block: Block, grid: Any, xp: Any) -> float:
    return float(xp.abs(grid - block.expected(xp)).max())


def _fresh(block: Block, xp: Any) -> Any:
    """The expected values with the ghost layers poisoned."""
    grid = block.expected(xp)
    r, n = block.radius, block.n
    poisoned = xp.full(block.shape, -1.0)
    poisoned[r : r + n, r : r + n, r : r + n] = grid[r : r + n, r : r + n, r : r + n]
    return poisoned


def run(comm: Any, n: int, radius: int, quantities: int, iters: int, xp: Any) -> list[dict]:
    """Time each method (median seconds per exchange) and check the ghosts after each."""
    from mpi4py import MPI

    import tempi

    block = decompose(comm, n, radius, quantities)
    sends, recvs = subarrays(block)
    graph = comm.Create_dist_graph_adjacent(block.sources, block.destinations, reorder=False)
    tcomm, tgraph = tempi.Comm(comm), tempi.Comm(graph)
    ones = [1] * len(DIRECTIONS)
    zeros = [0] * len(DIRECTIONS)
    views = [(block.region(d, False), block.region(tuple(-x for x in d), True)) for d in DIRECTIONS]
    host = xp is np

    def alltoallw(grid: Any) -> None:
        tgraph.Neighbor_alltoallw([grid, ones, zeros, sends], [grid, ones, zeros, recvs])

    def isend(grid: Any) -> None:
        requests = [
            tcomm.Irecv([grid, 1, t], s, i) for i, (t, s) in enumerate(zip(recvs, block.sources))
        ]
        requests += [
            tcomm.Isend([grid, 1, t], d, i)
            for i, (t, d) in enumerate(zip(sends, block.destinations))
        ]
        tempi.Request.Waitall(requests)

    def baseline(grid: Any) -> None:
        outgoing = [
            np.ascontiguousarray(grid[s]) if host else xp.ascontiguousarray(grid[s]).get()
            for s, _ in views
        ]
        incoming = [np.empty_like(o) for o in outgoing]
        requests = [
            comm.Irecv(buf, src, i) for i, (buf, src) in enumerate(zip(incoming, block.sources))
        ]
        requests += [
            comm.Isend(buf, dst, i)
            for i, (buf, dst) in enumerate(zip(outgoing, block.destinations))
        ]
        MPI.Request.Waitall(requests)
        for (_, ghost), buf in zip(views, incoming):
            grid[ghost] = buf if host else xp.asarray(buf)

    rows = []
    for name, method in (
        ("tempi-alltoallw", alltoallw),
        ("tempi-isend", isend),
        ("baseline", baseline),
    ):
        grid = _fresh(block, xp)
        method(grid)
        error = comm.allreduce(_ghost_error(block, grid, xp), op=MPI.MAX)
        times = []
        for _ in range(iters):
            comm.Barrier()
            start = time.perf_counter()
            method(grid)
            if not host:
                xp.cuda.get_current_stream().synchronize()
            times.append(comm.allreduce(time.perf_counter() - start, op=MPI.MAX))
        moved = (
            sum(int(np.prod([s.stop - s.start for s in v[:3]])) for v, _ in views) * quantities * 8
        )
        rows.append(
            {
                "method": name,
                "seconds": statistics.median(times),
                "bytes": moved,
                "max_error": error,
            }
        )
    for t in sends + recvs:
        t.Free()
    graph.Free()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32, help="local block edge in cells")
    parser.add_argument("--radius", type=int, default=1, help="ghost layers")
    parser.add_argument("--quantities", type=int, default=2, help="float64 values per cell")
    parser.add_argument("--iters", type=int, default=20, help="timed exchanges per method")
    parser.add_argument("--host", action="store_true", help="NumPy arrays even with a GPU")
    args = parser.parse_args(argv)

    from mpi4py import MPI

    from tempi.pack import cuda

    use_gpu = not args.host and cuda.cuda_available()
    if not use_gpu:
        os.environ["TEMPI_HOST"] = "1"
        from tempi import config

        config.reload()
    xp = __import__("cupy") if use_gpu else np
    comm = MPI.COMM_WORLD
    rows = run(comm, args.n, args.radius, args.quantities, args.iters, xp)
    if comm.Get_rank() == 0:
        base = next(r["seconds"] for r in rows if r["method"] == "baseline")
        memory = "GPU (CuPy)" if use_gpu else "host (NumPy, TEMPI_HOST=1)"
        dims = MPI.Compute_dims(comm.Get_size(), 3)
        print(
            f"halo exchange: {comm.Get_size()} ranks {dims}, {args.n}^3 cells each, radius "
            f"{args.radius}, {args.quantities} quantities, {memory}"
        )
        print(f"{'method':<16} {'ms/exchange':>12} {'MB moved':>9} {'speedup':>8} {'ghosts':>7}")
        for r in rows:
            ok = "ok" if r["max_error"] == 0 else "WRONG"
            print(
                f"{r['method']:<16} {r['seconds'] * 1e3:>12.3f} {r['bytes'] / 1e6:>9.2f} "
                f"{base / r['seconds']:>8.2f} {ok:>7}"
            )
    return 0 if all(r["max_error"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
