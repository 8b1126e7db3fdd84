"""How much inter-node weight does tempi's rank placement save, and how long does it take?

Graphs: periodic 3-D Cartesian grids (``MPI_Dims_create``) with 6 neighbours (faces) and
26 (faces 64 : edges 8 : corners 1 cells, tempi's default stencil), and random geometric
graphs (points in the unit cube joined within a radius giving about 12 neighbours, weight
falling with distance; seeded). Sizes 8 to 4096 ranks on 2 to 64 simulated nodes (at
least 2 ranks per node), world ranks given to nodes in blocks or cyclically. For each:
the inter-node weight of the identity, of the system MPI's own reorder (run under
mpiexec up to --mpi-max ranks; it sees one real node), of random placement, of tempi
with KaHIP and with METIS (as TEMPI_PLACEMENT chooses them: FAST mode / 3 % imbalance,
up to 8 seeds in a 0.5 s budget, exact node sizes, never worse than the identity), and of
TEMPI's own choice reconstructed (KaHIP FAST, exact balance, 20 seeds, best cut), with the
time each partitioning took (partitioning alone, no MPI; TEMPI's 20 seeds up to
--tempi2021-max ranks, as they take 20 to 60 s beyond). Rank 0 prints the table and
writes results/placement_<host>_<date>.csv and .png.

Launch (one process; it starts mpiexec itself for the system MPI's reorder)::

    python benchmarks/placement.py [--quick] [--mpi-max 64] [--out results]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _common import output_stem, provenance, pyplot, table, write_csv
from mpi4py import MPI

from tempi import launch
from tempi.topology import graph, nodes, partition

SIZES = (8, 64, 512, 4096)
NODES = (2, 4, 16, 64)
KINDS = ("cart6", "cart26", "geometric")
METHODS = ("identity", "mpi", "random", "kahip", "metis", "tempi2021")


def geometric(n: int, seed: int = 1) -> tuple[list[list[int]], list[list[int]]]:
    """Each vertex's neighbours and weights (symmetric) in a random geometric graph."""
    rng = np.random.default_rng(seed)
    points = rng.random((n, 3))
    radius = (12 / (n * 4 / 3 * np.pi)) ** (1 / 3)  # about 12 neighbours inside the cube
    adjacency, weights = [], []
    for v in range(n):  # a row at a time: n x n distances would not fit at 4096 ranks
        distance = np.linalg.norm(points - points[v], axis=1)
        near = np.flatnonzero((distance < radius) & (np.arange(n) != v))
        adjacency.append(near.tolist())
        weights.append((np.rint(100 * (1 - distance[near] / radius)).astype(int) + 1).tolist())
    return adjacency, weights


def build(kind: str, n: int) -> graph.Graph:
    if kind == "geometric":
        adjacency, weights = geometric(n)
        src = [v for v in range(n) for _ in adjacency[v]]
        return graph.from_edges(n, src, sum(adjacency, []), sum(weights, []))
    dims = MPI.Compute_dims(n, 3)
    stencil = graph.Stencil(reach="faces" if kind == "cart6" else "full")
    return graph.cartesian(dims, [True] * 3, stencil)


def tempi2021(g: graph.Graph, identity: np.ndarray) -> tuple[np.ndarray, int]:
    """TEMPI's choice as we reconstruct it: kaffpa FAST, no imbalance, 20 seeds, best cut
    (then made exact, as every node must keep its count)."""
    import kahip

    sizes = np.bincount(identity)
    best, best_cut = identity, graph.cut(g, identity)
    for seed in range(20):
        _, parts = kahip.kaffpa(
            [1] * g.nvertices,
            g.xadj.tolist(),
            g.eweights.tolist(),
            g.adjncy.tolist(),
            len(sizes),
            0.0,
            True,
            seed,
            kahip.FAST,
        )
        found = partition._repair(
            g, partition._match(np.asarray(parts), identity, len(sizes)), sizes
        )
        if graph.cut(g, found) < best_cut:
            best, best_cut = found, graph.cut(g, found)
    return best, best_cut


def worker(kind: str) -> None:
    """Under mpiexec: the system MPI's reorder of this graph; rank 0 prints new ranks."""
    world = MPI.COMM_WORLD
    n, me = world.Get_size(), world.Get_rank()
    if kind == "geometric":
        adjacency, weights = geometric(n)
        made = world.Create_dist_graph_adjacent(
            adjacency[me], adjacency[me], weights[me], weights[me], reorder=True
        )
    else:
        made = world.Create_cart(MPI.Compute_dims(n, 3), [True] * 3, reorder=True)
    new = world.gather(made.Get_rank(), root=0)
    if me == 0:
        print(json.dumps(new), flush=True)


def mpi_reorder(kind: str, n: int) -> list[int] | None:
    """new[p] of the system MPI's reorder on n ranks, or None if it could not run."""
    program = [sys.executable, __file__, "--worker", kind]
    try:
        out = subprocess.run(
            launch.command(n, program),
            env=launch.environment(),
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        ).stdout
        return json.loads(out.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError) as exc:
        print(f"system MPI reorder on {n} ranks failed: {exc}", file=sys.stderr)
        return None


def _cut_of_ranks(g: graph.Graph, identity: np.ndarray, new: list[int]) -> int:
    """Process p holds vertex new[p]: vertex v sits on the node of its holder."""
    node_of = np.empty(len(new), np.int64)
    node_of[np.asarray(new)] = identity
    return graph.cut(g, node_of)


def measure(kind: str, n: int, k: int, assign: str, system: dict, tempi2021_max: int) -> dict:
    g = build(kind, n)
    identity = nodes.simulated_index(np.arange(n), n, k, assign)
    row = {"graph": kind, "ranks": n, "nodes": k, "assign": assign}
    row["total"] = g.total_weight
    row["identity"] = graph.cut(g, identity)
    new = system.get((kind, n))
    row["mpi"] = _cut_of_ranks(g, identity, new) if new is not None else ""
    row["random"] = partition.place(g, identity, "random").cut
    for method in ("kahip", "metis"):
        found = partition.place(g, identity, method)
        row[method], row[f"{method}_s"] = found.cut, found.time_s
        row[f"{method}_seeds"] = found.seeds
    row["tempi2021"] = row["tempi2021_s"] = ""
    if n <= tempi2021_max:
        start = time.perf_counter()
        row["tempi2021"] = tempi2021(g, identity)[1]
        row["tempi2021_s"] = time.perf_counter() - start
    best = min(row["kahip"], row["metis"])
    row["saved_pct"] = 100 * (1 - best / row["identity"]) if row["identity"] else 0.0
    return row


COLUMNS = [
    ("graph", "{:<9}", 9),
    ("ranks", "{:>5}", 5),
    ("nodes", "{:>5}", 5),
    ("assign", "{:<6}", 6),
    ("identity", "{:>9}", 9),
    ("mpi", "{!s:>9}", 9),
    ("random", "{:>9}", 9),
    ("kahip", "{:>9}", 9),
    ("metis", "{:>9}", 9),
    ("tempi2021", "{!s:>9}", 9),
    ("saved_pct", "{:>9.1f}", 9),
    ("kahip_s", "{:>7.3f}", 7),
    ("metis_s", "{:>7.3f}", 7),
    ("tempi2021_s", "{!s:>11.5}", 11),
]


def plot(rows: list[dict], path: str) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    for kind, marker in zip(KINDS, "os^"):
        for assign, style in (("block", "-"), ("cyclic", "--")):
            mine = [r for r in rows if r["graph"] == kind and r["assign"] == assign]
            x = [f"{r['ranks']}/{r['nodes']}" for r in mine]
            axes[0].plot(
                x, [r["saved_pct"] for r in mine], style, marker=marker, label=f"{kind} {assign}"
            )
    axes[0].set_ylabel("inter-node weight saved vs identity (%)")
    axes[0].set_xlabel("ranks / nodes")
    axes[0].tick_params(axis="x", rotation=60)
    axes[0].legend(fontsize=7)
    for name, marker in (("kahip_s", "o"), ("metis_s", "s"), ("tempi2021_s", "^")):
        by_n = {}
        for r in rows:
            by_n.setdefault(r["ranks"], []).append(r[name])
        xs = [x for x in sorted(by_n) if all(t != "" for t in by_n[x])]
        axes[1].plot(xs, [max(by_n[x]) for x in xs], marker=marker, label=f"{name[:-2]} (worst)")
    axes[1].axhline(1.0, color="grey", lw=0.8, ls=":")
    axes[1].set_xscale("log", base=2)
    axes[1].set_yscale("log")
    axes[1].set_xlabel("ranks")
    axes[1].set_ylabel("partition time (s)")
    axes[1].legend(fontsize=8)
    fig.suptitle("tempi rank placement: best of KaHIP/METIS vs identity, and time to partition")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 to 512 ranks only")
    parser.add_argument("--mpi-max", type=int, default=64, help="largest system-MPI run")
    parser.add_argument(
        "--tempi2021-max", type=int, default=512, help="largest graph for TEMPI's 20 seeds"
    )
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--worker", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return 0
    sizes = [n for n in SIZES if not args.quick or n <= 512]
    system = {}
    for kind in KINDS:
        for n in sizes:
            if n <= args.mpi_max:
                print(f"system MPI reorder: {kind} on {n} ranks", file=sys.stderr)
                system[(kind, n)] = mpi_reorder(kind, n)
    rows = []
    for kind in KINDS:
        for n in sizes:
            for k in NODES:
                if n // k < 2:
                    continue
                for assign in ("block", "cyclic"):
                    print(f"{kind} {n} ranks on {k} nodes, {assign}", file=sys.stderr)
                    rows.append(measure(kind, n, k, assign, system, args.tempi2021_max))
    note = (
        "inter-node weight (cells both ways) per placement; saved_pct: best of kahip/metis vs"
        " identity; mpi: the system MPI's reorder (one real node; blank above --mpi-max);"
        " times in s, partitioning alone"
    )
    print(table(COLUMNS, rows, note))
    stem = output_stem("placement", args.out)
    import kahip
    import pymetis

    extra = [f"kahip {kahip.__version__}, pymetis {pymetis.version}, numpy {np.__version__}"]
    write_csv(Path(f"{stem}.csv"), rows, provenance(extra))
    plot(rows, f"{stem}.png")
    print(f"wrote {stem}.csv and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
