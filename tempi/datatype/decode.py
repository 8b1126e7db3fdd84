"""Decode a committed mpi4py datatype into the IR (see :mod:`tempi.datatype.ir`).

Every constructor is expressed through ``Dense``/``Repeat``/``Seq`` with byte offsets;
element strides are multiplied by the old type's extent as MPI reports it (so resized
types and struct padding are MPI's own). Handles returned by ``Datatype.decode()`` are
freed here. ``darray`` follows the MPI standard's definition (cyclic(k) per dimension,
process grid in row-major order).
"""

from __future__ import annotations

import math

from mpi4py import MPI

from tempi.datatype.ir import EMPTY, Dense, Node, Repeat, Seq, TypeIR, shifted
from tempi.errors import UnsupportedDatatype

_PAIR_TYPES = ("FLOAT_INT", "DOUBLE_INT", "LONG_INT", "SHORT_INT", "TWOINT", "LONG_DOUBLE_INT")


def _pair_handles() -> dict[int, MPI.Datatype]:
    return {
        MPI._handleof(dt): dt
        for dt in (getattr(MPI, name, MPI.DATATYPE_NULL) for name in _PAIR_TYPES)
        if dt != MPI.DATATYPE_NULL
    }


def _named(dt: MPI.Datatype) -> Node:
    """A named type is dense, except the value-int pairs, which MPI lays out like a struct."""
    size = dt.Get_size()
    _, true_extent = dt.Get_true_extent()
    if size == true_extent:
        return Dense(size)
    if MPI._handleof(dt) in _pair_handles():
        value = size - 4
        return Seq((0, -(-value // 4) * 4), (Dense(value), Dense(4)))
    raise UnsupportedDatatype(f"named type {dt.Get_name()!r} has holes tempi does not know")


def _extent(dt: MPI.Datatype) -> int:
    """The extent MPI steps by; negative extents are refused because MPI libraries do not
    agree on how they repeat (MPICH steps a contiguous(2) of extent -1 by -2 while
    reporting extent 0)."""
    extent = dt.Get_extent()[1]
    if extent < 0:
        raise UnsupportedDatatype(f"negative extent {extent}")
    return extent


def _blocks(old: MPI.Datatype, blocklength: int) -> Node:
    """``blocklength`` consecutive elements of ``old`` (spaced by its extent)."""
    return Repeat(blocklength, _extent(old), _node(old))


def _cyclic(darg: int, gsize: int, coord: int, psize: int, child: Node, ext: int) -> Node:
    """The elements of one darray dimension owned by process ``coord``, as the standard's
    cyclic(darg): global index ``j`` belongs to ``(j // darg) % psize``."""
    period = darg * psize
    first = coord * darg
    if first >= gsize:
        return EMPTY
    nfull = (gsize - first) // period
    tail_start = first + nfull * period
    tail = min(darg, gsize - tail_start) if tail_start < gsize else 0
    pieces: list[tuple[int, Node]] = []
    if nfull:
        pieces.append((first * ext, Repeat(nfull, period * ext, Repeat(darg, ext, child))))
    if tail:
        pieces.append((tail_start * ext, Repeat(tail, ext, child)))
    return Seq(tuple(o for o, _ in pieces), tuple(n for _, n in pieces))


def _darray(old: MPI.Datatype, p: dict) -> Node:
    gsizes, distribs, dargs, psizes = p["gsizes"], p["distribs"], p["dargs"], p["psizes"]
    ndims = len(gsizes)
    coords, rest = [], p["rank"]
    for i in range(ndims):
        below = math.prod(psizes[i + 1 :])
        coords.append(rest // below)
        rest %= below
    dims = range(ndims - 1, -1, -1) if p["order"] == MPI.ORDER_C else range(ndims)
    node, ext = _node(old), _extent(old)
    for i in dims:
        gsize, psize, coord, darg = gsizes[i], psizes[i], coords[i], dargs[i]
        if distribs[i] == MPI.DISTRIBUTE_NONE:
            darg, psize, coord = gsize, 1, 0
        elif distribs[i] == MPI.DISTRIBUTE_BLOCK:
            darg = -(-gsize // psize) if darg == MPI.DISTRIBUTE_DFLT_DARG else darg
        elif distribs[i] == MPI.DISTRIBUTE_CYCLIC:
            darg = 1 if darg == MPI.DISTRIBUTE_DFLT_DARG else darg
        else:
            raise UnsupportedDatatype(f"darray distribution {distribs[i]}")
        node = _cyclic(darg, gsize, coord, psize, node, ext)
        ext *= gsize
    return node


def _subarray(old: MPI.Datatype, p: dict) -> Node:
    sizes, subsizes, starts = p["sizes"], p["subsizes"], p["starts"]
    ndims = len(sizes)
    order = range(ndims - 1, -1, -1) if p["order"] == MPI.ORDER_C else range(ndims)
    node, stride, offset = _node(old), _extent(old), 0
    for i in order:
        node = Repeat(subsizes[i], stride, node)
        offset += starts[i] * stride
        stride *= sizes[i]
    return shifted(node, offset)


def _node(dt: MPI.Datatype) -> Node:
    """IR of one element of ``dt``; frees the handles its decoding creates."""
    if dt.is_predefined:
        return _named(dt)
    old, combiner, p = dt.decode()
    owned = p["datatypes"] if combiner == "STRUCT" else [old]
    try:
        return _decode_combiner(combiner, old, p)
    finally:
        for t in owned:
            if not t.is_predefined:
                t.Free()


def _decode_combiner(combiner: str, old: MPI.Datatype, p: dict) -> Node:
    if combiner == "DUP":
        return _node(old)
    if combiner == "RESIZED":
        return _node(old)
    if combiner == "CONTIGUOUS":
        return _blocks(old, p["count"])
    if combiner in ("VECTOR", "HVECTOR"):
        unit = _extent(old) if combiner == "VECTOR" else 1
        return Repeat(p["count"], p["stride"] * unit, _blocks(old, p["blocklength"]))
    if combiner in ("INDEXED", "HINDEXED"):
        unit = _extent(old) if combiner == "INDEXED" else 1
        block = [_blocks(old, n) for n in p["blocklengths"]]
        return Seq(tuple(d * unit for d in p["displacements"]), tuple(block))
    if combiner in ("INDEXED_BLOCK", "HINDEXED_BLOCK"):
        unit = _extent(old) if combiner == "INDEXED_BLOCK" else 1
        block = _blocks(old, p["blocklength"])
        return Seq(tuple(d * unit for d in p["displacements"]), (block,) * len(p["displacements"]))
    if combiner == "STRUCT":
        children = tuple(_blocks(t, n) for n, t in zip(p["blocklengths"], p["datatypes"]))
        return Seq(tuple(p["displacements"]), children)
    if combiner == "SUBARRAY":
        return _subarray(old, p)
    if combiner == "DARRAY":
        return _darray(old, p)
    raise UnsupportedDatatype(f"combiner {combiner} is not decoded by tempi")


def decode(datatype: MPI.Datatype) -> TypeIR:
    """The IR of ``datatype`` with its MPI size, lower bound and extent."""
    lb, _ = datatype.Get_extent()
    extent = _extent(datatype)
    return TypeIR(_node(datatype), datatype.Get_size(), lb, extent)
