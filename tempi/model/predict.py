"""Predicted time of each strategy: the sum of the measured pieces it is made of.

One message, sender and receiver together (half a ping-pong round trip)::

    device  = pack_device  + mpi_gpu + unpack_device
    oneshot = pack_oneshot + mpi_cpu + unpack_oneshot
    staged  = pack_device  + d2h + mpi_cpu + h2d + unpack_device

A pack/unpack piece is read from its main table at (bytes, block) -- measured at the
reference stride with one level -- and corrected for the message's stride and levels by
the component's factor tables: the part of the time above the fixed cost (the time at
the table's smallest size) is multiplied by ``stride(block, density) /
stride(block, reference density)`` and by ``levels(n) / levels(1)``. MPI pieces come from
the table of the peer's locality (the other one when that was not measured); a profile
without ``mpi_gpu`` (an MPI that was not CUDA-aware when measured) prices the device
path as MPI staging through the link itself: d2h + mpi_cpu + h2d.

Where ``tempi measure`` also timed whole exchanges (``e2e_<strategy>`` tables over size x
block at the reference stride), each strategy's sum is scaled by measured / modelled at
the nearest such layout (:func:`calibration`): the pieces keep the shape of the
prediction (stride, levels, size between the points), the end-to-end times its level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tempi.model.features import Shape, reference_stride
from tempi.model.profile import Profile
from tempi.model.table import Table

STRATEGIES = ("device", "oneshot", "staged")
"""In order of preference when predictions tie (fewer steps first)."""

PIECES = {
    "device": ("pack_device", "mpi_gpu", "unpack_device"),
    "oneshot": ("pack_oneshot", "mpi_cpu", "unpack_oneshot"),
    "staged": ("pack_device", "d2h", "mpi_cpu", "h2d", "unpack_device"),
}


@dataclass(frozen=True)
class Prediction:
    strategy: str
    parts: tuple[tuple[str, float], ...]

    @property
    def time_s(self) -> float:
        return sum(t for _, t in self.parts)


def _scaled(t: float, floor: float, factor: float) -> float:
    floor = min(floor, t)
    return floor + (t - floor) * factor


def shape_piece(profile: Profile, component: str, shape: Shape) -> float:
    """Time of one pack/unpack component for ``shape``."""
    main = profile.tables[component]
    block = shape.block_b
    t = main(bytes=shape.nbytes, block=block)
    floor = main(bytes=float(main.coords[0][0]), block=block)
    stride: Table | None = profile.tables.get(f"{component}.stride")
    if stride is not None:
        ratio = stride(block=block, density=shape.density) / stride(
            block=block, density=shape.reference_density
        )
        t = _scaled(t, floor, ratio)
    levels: Table | None = profile.tables.get(f"{component}.levels")
    if levels is not None and shape.levels != 1:
        t = _scaled(t, floor, levels(levels=shape.levels) / levels(levels=1))
    return t


def mpi_piece(profile: Profile, name: str, nbytes: int, *, peer_local: bool) -> float:
    tables = profile.tables
    want, other = ("local", "remote") if peer_local else ("remote", "local")
    for where in (want, other):
        table = tables.get(f"{name}.{where}")
        if table is not None:
            return table(bytes=nbytes)
    # no mpi_gpu table: MPI stages device data through host memory itself
    return (
        tables["d2h"](bytes=nbytes)
        + mpi_piece(profile, "mpi_cpu", nbytes, peer_local=peer_local)
        + tables["h2d"](bytes=nbytes)
    )


def piece(profile: Profile, name: str, shape: Shape, *, peer_local: bool) -> float:
    if name.startswith("mpi_"):
        return mpi_piece(profile, name, shape.nbytes, peer_local=peer_local)
    if name in ("d2h", "h2d"):
        return profile.tables[name](bytes=shape.nbytes)
    return shape_piece(profile, name, shape)


def _pieces(profile: Profile, strategy: str, shape: Shape, peer_local: bool) -> list:
    return [(p, piece(profile, p, shape, peer_local=peer_local)) for p in PIECES[strategy]]


def calibration(profile: Profile, strategy: str, shape: Shape, *, peer_local: bool) -> float:
    """Measured / modelled time of ``strategy`` end to end, at the reference layout of
    ``shape``'s size and block clamped into the ``e2e_<strategy>`` table (1 without one):
    what a real exchange costs that the sum of its pieces does not say."""
    table = profile.tables.get(f"e2e_{strategy}")
    if table is None:
        return 1.0
    sizes, blocks = table.coords
    nbytes = min(max(shape.nbytes, sizes[0]), sizes[-1])
    block = min(max(shape.block_b, blocks[0]), blocks[-1], nbytes)
    reference = Shape(int(nbytes), block, reference_stride(block))
    modelled = sum(t for _, t in _pieces(profile, strategy, reference, peer_local))
    ratio = table(bytes=nbytes, block=block) / modelled if modelled > 0 else 1.0
    return ratio if math.isfinite(ratio) and ratio > 0 else 1.0


def predict(
    profile: Profile, shape: Shape, *, peer_local: bool = True, strategies=STRATEGIES
) -> dict[str, Prediction]:
    """{strategy: Prediction} for the given strategies: the pieces, each scaled by the
    strategy's end-to-end :func:`calibration`."""
    found = {}
    for s in strategies:
        factor = calibration(profile, s, shape, peer_local=peer_local)
        parts = _pieces(profile, s, shape, peer_local)
        found[s] = Prediction(s, tuple((p, t * factor) for p, t in parts))
    return found


def allowed(*, cuda_aware: bool) -> tuple[str, ...]:
    """The strategies the engine may run: device needs a CUDA-aware MPI."""
    return STRATEGIES if cuda_aware else STRATEGIES[1:]


def fastest(predictions: dict[str, Prediction]) -> str:
    """The strategy with the least predicted time (ties: the order of :data:`STRATEGIES`)."""
    return min(predictions, key=lambda s: (predictions[s].time_s, STRATEGIES.index(s)))
