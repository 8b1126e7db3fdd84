"""A profile from first principles, for machines where ``tempi measure`` has not run.

Every time is a fixed cost plus bytes over a rate:

* device pack = launch + (bytes written + bytes of DRAM sectors read) / (efficiency x
  memory bandwidth): a block of ``b`` bytes at stride ``s`` costs ``min(s, 32 ceil(b/32))``
  bytes of reads (a sector is the unit), packed bytes are written once; unpack pays
  twice for blocks under a sector (read-modify-write of partial sectors);
* one-shot pack/unpack = launch + the slower of that device traffic and the packed
  bytes over the host link (mapped writes at the link rate, mapped reads at half of it);
* copies = launch + bytes / link bandwidth; MPI = latency + bytes / rate, fixed
  constants (host memory; a CUDA-aware MPI's device path is taken as MPI staging
  through the link itself).

Rates come from a probe of at most about a second on a GPU (device-to-device,
device-to-host and host-to-device copies of 64 MiB, a 1-byte copy for the launch cost),
else from the device properties (memory clock x bus width), else from constants. On a
CPU-only machine the only engine that runs is the host emulation (``TEMPI_HOST=1``),
where "device" and "pinned" memory are both host memory: the constants describe that
(every copy a memmove at host memory speed). Nothing here raises.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass, replace
from functools import cache

import numpy as np

from tempi.log import get_logger
from tempi.model import grid as grids
from tempi.model.features import SECTOR_B, reference_stride
from tempi.model.profile import SHAPE_COMPONENTS, Profile
from tempi.model.table import Table

log = get_logger("model")

MiB = 1 << 20


@dataclass(frozen=True)
class Machine:
    """The rates (B/s) and fixed costs (s) the first-principles formulas need."""

    gpu: str
    mem_bw: float  # device memory, bytes read + written per second
    link_bw: float  # device <-> pinned host copies
    launch_s: float  # one enqueued operation plus a synchronize, as the engine waits
    mpi_latency_s: float = 2e-6
    mpi_bw: float = 5e9  # host memory, same node
    mpi_remote_latency_s: float = 5e-6
    mpi_remote_bw: float = 10e9
    efficiency: float = 0.5  # of mem_bw that a strided kernel reaches
    source: str = "constants"


CPU_ONLY = Machine(
    "no-gpu",
    mem_bw=10e9,
    link_bw=10e9,
    launch_s=1e-6,
    efficiency=1.0,
    source="constants (CPU only: host emulation)",
)
GPU_FALLBACK = Machine("unknown GPU", mem_bw=1.0e12, link_bw=20e9, launch_s=10e-6)


@cache
def machine() -> Machine:
    """This machine's rates: probed on a GPU (about a second, once per process), else
    :data:`CPU_ONLY`. Never raises."""
    try:
        from tempi.pack import cuda

        if not cuda.cuda_available():
            return CPU_ONLY
        return probe()
    except Exception as exc:  # a broken driver must not break the application
        log.debug("no device probe (%s): CPU-only defaults", exc)
        return CPU_ONLY


def probe(budget_s: float = 1.0) -> Machine:
    """Measure mem_bw, link_bw and the launch cost on the current GPU; each rate that
    fails keeps the value from the properties or :data:`GPU_FALLBACK`."""
    import cupy

    runtime = cupy.cuda.runtime
    props = runtime.getDeviceProperties(runtime.getDevice())
    name = props.get("name", b"GPU")
    name = name.decode() if isinstance(name, bytes) else str(name)
    found = replace(GPU_FALLBACK, gpu=name, source="device properties")
    clock_khz, bus_bits = props.get("memoryClockRate", 0), props.get("memoryBusWidth", 0)
    if clock_khz and bus_bits:  # DDR: two transfers per clock
        found = replace(found, mem_bw=2.0 * clock_khz * 1e3 * bus_bits / 8)
    deadline = time.perf_counter() + budget_s
    stream = cupy.cuda.get_current_stream()
    nbytes = 64 * MiB

    def timed(fn, reps: int = 3) -> float:
        fn()
        stream.synchronize()
        samples = []
        for _ in range(reps):
            if time.perf_counter() > deadline:
                break
            t0 = time.perf_counter()
            fn()
            stream.synchronize()
            samples.append(time.perf_counter() - t0)
        return statistics.median(samples) if samples else math.nan

    def copy(dst: int, src: int, n: int):
        return lambda: runtime.memcpyAsync(dst, src, n, 4, stream.ptr)

    try:
        # cudaMalloc'd outside CuPy's pool: freed again, not left cached in the application
        a, b = cupy.cuda.Memory(nbytes), cupy.cuda.Memory(nbytes)
        launch = timed(copy(b.ptr, a.ptr, 1), reps=30)
        if math.isfinite(launch):
            found = replace(found, launch_s=launch)
        d2d = timed(copy(b.ptr, a.ptr, nbytes))
        if math.isfinite(d2d):
            found = replace(found, mem_bw=2 * nbytes / d2d, source="probe")
        host = runtime.hostAlloc(nbytes, runtime.hostAllocMapped)
        try:
            d2h = timed(copy(host, a.ptr, nbytes))
            h2d = timed(copy(a.ptr, host, nbytes))
        finally:
            runtime.freeHost(host)
        del a, b
        rates = [nbytes / t for t in (d2h, h2d) if math.isfinite(t)]
        if rates:
            found = replace(found, link_bw=min(rates))
    except Exception as exc:
        log.debug("device probe stopped early (%s)", exc)
    log.debug("defaults from %s: %s", found.source, found)
    return found


def _touched(nblocks: float, block: float, stride: float) -> float:
    """Bytes of DRAM sectors read to gather ``nblocks`` blocks."""
    per_block = min(max(stride, block), SECTOR_B * math.ceil(block / SECTOR_B))
    return nblocks * per_block


def shape_time(m: Machine, component: str, nbytes: float, block: float, stride: float) -> float:
    """First-principles time of one pack/unpack component (levels are free here)."""
    block = min(block, nbytes)
    if stride <= block:  # contiguous: the engine copies it in one piece
        traffic = 2.0 * nbytes
    else:
        touched = _touched(nbytes / block, block, stride)
        partial = 2.0 if component.startswith("unpack") and block < SECTOR_B else 1.0
        traffic = nbytes + touched * (partial if component.startswith("unpack") else 1.0)
    device = traffic / (m.efficiency * m.mem_bw)
    if component.endswith("oneshot"):
        link = nbytes / (m.link_bw if component.startswith("pack") else 0.5 * m.link_bw)
        return m.launch_s + max(device, link)
    return m.launch_s + device


def copy_time(m: Machine, nbytes: float) -> float:
    return m.launch_s + nbytes / m.link_bw


def mpi_time(m: Machine, nbytes: float, *, local: bool, device: bool) -> float:
    latency, rate = (
        (m.mpi_latency_s, m.mpi_bw) if local else (m.mpi_remote_latency_s, m.mpi_remote_bw)
    )
    host = latency + nbytes / rate
    if device and m.gpu != "no-gpu":  # a CUDA-aware MPI stages through the link itself
        return host + copy_time(m, nbytes) + 8e-6
    return host


def shape_tables(m: Machine, component: str, g: grids.Grid) -> dict[str, Table]:
    """The main, stride and levels tables of one component on grid ``g``."""
    main = np.array(
        [[shape_time(m, component, n, b, reference_stride(b)) for b in g.blocks] for n in g.bytes]
    )
    stride = np.array(
        [
            [shape_time(m, component, g.factor_bytes, b, b / d) for d in g.densities]
            for b in g.factor_blocks
        ]
    )
    b = g.levels_block
    level_time = shape_time(m, component, g.factor_bytes, b, reference_stride(b))
    return {
        component: Table(("bytes", "block"), (g.bytes, g.blocks), main),
        f"{component}.stride": Table(("block", "density"), (g.factor_blocks, g.densities), stride),
        f"{component}.levels": Table(("levels",), (g.levels,), np.full(len(g.levels), level_time)),
    }


def bytes_table(g: grids.Grid, fn) -> Table:
    return Table(("bytes",), (g.bytes,), np.array([fn(n) for n in g.bytes]))


def profile(m: Machine | None = None, g: grids.Grid = grids.FULL) -> Profile:
    """Every table of a profile, from the formulas, on grid ``g``."""
    m = m or machine()
    tables: dict[str, Table] = {}
    for component in SHAPE_COMPONENTS:
        tables.update(shape_tables(m, component, g))
    tables["d2h"] = tables["h2d"] = bytes_table(g, lambda n: copy_time(m, n))
    for local in (True, False):
        where = "local" if local else "remote"
        for device in (False, True):
            tables[f"mpi_{'gpu' if device else 'cpu'}.{where}"] = bytes_table(
                g, lambda n, lo=local, dv=device: mpi_time(m, n, local=lo, device=dv)
            )
    meta = {"gpu": m.gpu, "launch_s": m.launch_s, "machine": asdict(m), "notes": []}
    measured_host = _host_tables()
    if measured_host is not None:
        tables.update(measured_host[0])
        meta["notes"].append(f"host typed/packed tables: {measured_host[1]}")
    return Profile(tables, meta, f"built-in defaults ({m.source})")


def _host_tables() -> tuple[dict[str, Table], str] | None:
    """The host typed/packed tables measured for the loaded MPI (:mod:`tempi.model.host`)
    and where they came from, or None (another MPI, or none loaded)."""
    from tempi.model import host

    try:
        from tempi import system

        library = system.mpi_library()
    except Exception as exc:  # no MPI to ask: no measured tables
        log.debug("no MPI library for the host tables (%s)", exc)
        return None
    found = host.built_in(library)
    if found is None:
        return None
    source = next(d["source"] for f, d in host.BUILT_IN.items() if f.lower() in library.lower())
    return found, source
