"""Simplify the IR to a fixpoint, then turn it into a canonical descriptor.

The passes never reorder bytes: the packed stream of the simplified IR is the typemap
order of the original type (which is what MPI_Pack produces). Each pass rewrites one node
and says whether it changed anything; :func:`simplify` applies them bottom-up until none
does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tempi.datatype.descriptor import BlockList, Descriptor, StridedBlock, add_level
from tempi.datatype.ir import EMPTY, Dense, Node, Repeat, Seq, TypeIR, shifted

Pass = Callable[[Node], "Node | None"]


def drop_empty(node: Node) -> Node | None:
    """A node without data bytes becomes ``Dense(0)``; a Seq loses its empty children."""
    if node.size == 0:
        return None if node == EMPTY else EMPTY
    if isinstance(node, Seq) and any(c.size == 0 for c in node.children):
        kept = [(o, c) for o, c in zip(node.offsets, node.children) if c.size]
        return Seq(tuple(o for o, _ in kept), tuple(c for _, c in kept))
    return None


def elide_count1(node: Node) -> Node | None:
    """``Repeat(1, s, c)`` -> ``c``: the single copy sits at offset 0, so nothing moves."""
    if isinstance(node, Repeat) and node.count == 1:
        return node.child
    return None


def fold_dense(node: Node) -> Node | None:
    """``Repeat(n, b, Dense(b))`` -> ``Dense(n*b)``: copies that touch form one run."""
    if (
        isinstance(node, Repeat)
        and isinstance(node.child, Dense)
        and node.stride == node.child.nbytes
    ):
        return Dense(node.count * node.child.nbytes)
    return None


def merge_repeats(node: Node) -> Node | None:
    """``Repeat(n, m*s, Repeat(m, s, c))`` -> ``Repeat(n*m, s, c)``."""
    if isinstance(node, Repeat) and isinstance(node.child, Repeat):
        inner = node.child
        if node.stride == inner.count * inner.stride:
            return Repeat(node.count * inner.count, inner.stride, inner.child)
    return None


def hoist_offset(node: Node) -> Node | None:
    """``Repeat(n, s, Seq((o,), (c,)))`` -> ``Seq((o,), (Repeat(n, s, c),))``."""
    if isinstance(node, Repeat) and isinstance(node.child, Seq) and len(node.child.children) == 1:
        inner = node.child
        return Seq(inner.offsets, (Repeat(node.count, node.stride, inner.children[0]),))
    return None


def flatten_seq(node: Node) -> Node | None:
    """A Seq inside a Seq is spliced into its parent (offsets added); a lone child at 0
    replaces its Seq."""
    if not isinstance(node, Seq):
        return None
    if len(node.children) == 1 and node.offsets[0] == 0:
        return node.children[0]
    if not any(isinstance(c, Seq) for c in node.children):
        return None
    offsets: list[int] = []
    children: list[Node] = []
    for o, c in zip(node.offsets, node.children):
        if isinstance(c, Seq):
            offsets.extend(o + inner for inner in c.offsets)
            children.extend(c.children)
        else:
            offsets.append(o)
            children.append(c)
    return Seq(tuple(offsets), tuple(children))


def _as_run(offset: int, node: Node) -> tuple[int, int, int, Node]:
    if isinstance(node, Repeat):
        return offset, node.count, node.stride, node.child
    return offset, 1, 0, node


def merge_runs(node: Node) -> Node | None:
    """Neighbouring Seq children that continue one arithmetic run of the same node become
    one ``Repeat``; neighbouring Dense children that touch become one ``Dense``."""
    if not isinstance(node, Seq) or len(node.children) < 2:
        return None
    runs = [_as_run(o, c) for o, c in zip(node.offsets, node.children)]
    merged = [runs[0]]
    for o2, n2, s2, x2 in runs[1:]:
        o1, n1, s1, x1 = merged[-1]
        if (
            isinstance(x1, Dense)
            and isinstance(x2, Dense)
            and n1 == n2 == 1
            and o1 + x1.nbytes == o2
        ):
            merged[-1] = (o1, 1, 0, Dense(x1.nbytes + x2.nbytes))
            continue
        if x1 == x2:
            stride = s1 if n1 > 1 else (s2 if n2 > 1 else o2 - o1)
            if (n1 == 1 or s1 == stride) and (n2 == 1 or s2 == stride) and o2 == o1 + n1 * stride:
                merged[-1] = (o1, n1 + n2, stride, x1)
                continue
        merged.append((o2, n2, s2, x2))
    if len(merged) == len(runs):
        return None
    children = tuple(x if n == 1 else Repeat(n, s, x) for _, n, s, x in merged)
    return Seq(tuple(o for o, *_ in merged), children)


PASSES: tuple[Pass, ...] = (
    drop_empty,
    elide_count1,
    fold_dense,
    merge_repeats,
    hoist_offset,
    flatten_seq,
    merge_runs,
)


def _rewrite(node: Node) -> tuple[Node, bool]:
    changed = False
    if isinstance(node, Repeat):
        child, changed = _rewrite(node.child)
        if changed:
            node = Repeat(node.count, node.stride, child)
    elif isinstance(node, Seq):
        results = [_rewrite(c) for c in node.children]
        if any(ch for _, ch in results):
            changed = True
            node = Seq(node.offsets, tuple(c for c, _ in results))
    for rewrite in PASSES:
        new = rewrite(node)
        if new is not None:
            return new, True
    return node, changed


def simplify(node: Node) -> Node:
    """Apply :data:`PASSES` bottom-up until nothing changes."""
    changed = True
    while changed:
        node, changed = _rewrite(node)
    return node


def flatten(node: Node) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, lengths) of every Dense leaf, in typemap order."""
    if isinstance(node, Dense):
        return np.array([0], np.int64), np.array([node.nbytes], np.int64)
    if isinstance(node, Repeat):
        offsets, lengths = flatten(node.child)
        shifts = np.arange(node.count, dtype=np.int64) * node.stride
        return (shifts[:, None] + offsets[None, :]).ravel(), np.tile(lengths, node.count)
    parts = [flatten(c) for c in node.children]
    offsets = np.concatenate([p[0] + o for p, o in zip(parts, node.offsets)])
    return offsets, np.concatenate([p[1] for p in parts])


def _merge_touching(offsets: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = lengths > 0
    offsets, lengths = offsets[keep], lengths[keep]
    if len(offsets) < 2:
        return offsets, lengths
    starts = np.ones(len(offsets), bool)
    starts[1:] = offsets[1:] != offsets[:-1] + lengths[:-1]
    group = np.cumsum(starts) - 1
    return offsets[starts], np.bincount(group, weights=lengths).astype(np.int64)


def strided(
    start: int, block: int, levels: list[tuple[int, int]], size: int, lb: int, extent: int
) -> StridedBlock:
    """A StridedBlock built level by level (innermost first) with the folding rules."""
    counts: tuple[int, ...] = ()
    strides: tuple[int, ...] = ()
    for count, stride in levels:
        factor, counts, strides = add_level(counts, strides, count, stride, 0 if counts else block)
        block *= factor
    return StridedBlock(start, block, counts, strides, size, lb, extent)


def canonicalize(ir: TypeIR) -> Descriptor:
    """The canonical descriptor of a type: a StridedBlock when one exists, else a BlockList."""
    node = simplify(ir.root)
    if node.size == 0:
        return StridedBlock(0, 0, size=0, lb=ir.lb, extent=ir.extent)
    offset = 0
    if isinstance(node, Seq) and len(node.children) == 1:
        offset, node = node.offsets[0], node.children[0]
    outer: list[tuple[int, int]] = []
    while isinstance(node, Repeat):
        outer.append((node.count, node.stride))
        node = node.child
    outer.reverse()
    if isinstance(node, Dense):
        return strided(offset, node.nbytes, outer, ir.size, ir.lb, ir.extent)
    offsets, lengths = _merge_touching(*flatten(shifted(node, offset)))
    if len(offsets) == 1:
        return strided(int(offsets[0]), int(lengths[0]), outer, ir.size, ir.lb, ir.extent)
    gaps = np.diff(offsets)
    if np.all(lengths == lengths[0]) and np.all(gaps == gaps[0]):
        inner = [(len(offsets), int(gaps[0]))]
        return strided(int(offsets[0]), int(lengths[0]), inner + outer, ir.size, ir.lb, ir.extent)
    counts = tuple(c for c, _ in outer)
    strides = tuple(s for _, s in outer)
    return BlockList(offsets, lengths, counts, strides, ir.size, ir.lb, ir.extent)
