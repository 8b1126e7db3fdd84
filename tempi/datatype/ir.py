"""Intermediate representation of a datatype's typemap.

Three immutable node kinds describe where the data bytes of one element lie, relative to
the element's origin, in MPI typemap order:

* ``Dense(nbytes)`` -- contiguous bytes at offset 0 (a named type, or a folded run);
* ``Repeat(count, stride, child)`` -- ``count`` copies of ``child``, copy ``i`` at
  ``i * stride`` bytes (any sign);
* ``Seq(offsets, children)`` -- the children in order, child ``i`` shifted by
  ``offsets[i]`` bytes.

Extents and lower bounds are not part of the IR: the decoder asks MPI for them when it
turns element strides into byte strides, so resized types and alignment padding are MPI's
own. ``size`` (data bytes) and ``num_blocks`` (contiguous leaves, unmerged) are computed
once at construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Dense:
    nbytes: int
    size: int = field(init=False, compare=False, repr=False)
    num_blocks: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", self.nbytes)
        object.__setattr__(self, "num_blocks", 1 if self.nbytes else 0)


@dataclass(frozen=True)
class Repeat:
    count: int
    stride: int
    child: Node
    size: int = field(init=False, compare=False, repr=False)
    num_blocks: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", self.count * self.child.size)
        object.__setattr__(self, "num_blocks", self.count * self.child.num_blocks)


@dataclass(frozen=True)
class Seq:
    offsets: tuple[int, ...]
    children: tuple[Node, ...]
    size: int = field(init=False, compare=False, repr=False)
    num_blocks: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.offsets) != len(self.children):
            raise ValueError("Seq needs one offset per child")
        object.__setattr__(self, "size", sum(c.size for c in self.children))
        object.__setattr__(self, "num_blocks", sum(c.num_blocks for c in self.children))


Node = Dense | Repeat | Seq

EMPTY = Dense(0)


def shifted(node: Node, offset: int) -> Node:
    """``node`` placed at ``offset`` bytes."""
    return node if offset == 0 else Seq((offset,), (node,))


@dataclass(frozen=True)
class TypeIR:
    """The IR of one element plus the MPI-reported size, lower bound and extent."""

    root: Node
    size: int
    lb: int
    extent: int
