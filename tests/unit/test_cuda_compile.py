"""The CUDA packer without a device: every kernel template compiles with nvcc, and the
host-side planning (word size, launch shape, block-list piece table) is right.

CI has nvcc but no GPU, so this is where a kernel that does not compile is caught.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tempi._native import native_dir
from tempi.datatype.descriptor import BlockList, StridedBlock
from tempi.pack import cuda


def _nvcc() -> str | None:
    found = shutil.which("nvcc")
    if found:
        return found
    default = Path("/usr/local/cuda/bin/nvcc")
    return str(default) if default.exists() else None


@pytest.mark.skipif(_nvcc() is None, reason="nvcc not found on PATH or in /usr/local/cuda/bin")
def test_every_kernel_instantiation_compiles(tmp_path: Path) -> None:
    names = cuda.kernel_names()
    taken = ",\n".join(f"    (void *)&{name}" for name in names)
    unit = tmp_path / "instantiate.cu"
    unit.write_text(
        '#include "pack.cu"\n'
        f"static void *tempi_test_kernels[] = {{\n{taken}\n}};\n"
        "void *tempi_test_kernel_table() { return tempi_test_kernels; }\n"
    )
    cubin = tmp_path / "pack.cubin"
    command = [
        _nvcc(),
        "-std=c++17",
        f"-I{native_dir()}",
        "--cubin",
        "-arch=sm_90",
        "--Werror",
        "all-warnings",
        "-o",
        str(cubin),
        str(unit),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    kernels = set(re.findall(rb"\.text\.(_Z\w*tempi_\w+)", cubin.read_bytes()))
    assert len(kernels) == len(names), sorted(kernels)


@pytest.mark.skipif(_nvcc() is None, reason="nvcc not found on PATH or in /usr/local/cuda/bin")
def test_argument_structs_match_their_numpy_dtypes(tmp_path: Path) -> None:
    """CuPy copies the NumPy structured scalar byte for byte: sizes and offsets must agree
    with what nvcc lays out (checked by a host-only program, no GPU needed)."""
    fields = {
        "tempi_strided_args": (cuda._STRIDED, ("start", "c0", "s2")),
        "tempi_strided_n_args": (cuda._STRIDED_N, ("nblocks", "lv")),
        "tempi_blocklist_args": (cuda._BLOCKLIST, ("nrows", "s0")),
        "tempi_blocklist_n_args": (cuda._BLOCKLIST_N, ("nrows", "lv")),
    }
    lines = ["#include <cstdio>", "#include <cstddef>", '#include "pack.cuh"', "int main() {"]
    expected = []
    for struct, (dtype, names) in fields.items():
        lines.append(f'printf("%zu\\n", sizeof({struct}));')
        expected.append(dtype.itemsize)
        for name in names:
            lines.append(f'printf("%zu\\n", offsetof({struct}, {name}));')
            expected.append(dtype.fields[name][1])
    lines.append("return 0; }")
    source = tmp_path / "layout.cu"
    source.write_text("\n".join(lines))
    binary = tmp_path / "layout"
    subprocess.run([_nvcc(), f"-I{native_dir()}", "-o", str(binary), str(source)], check=True)
    printed = subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout
    assert [int(x) for x in printed.split()] == expected


def test_import_needs_no_cupy() -> None:
    code = "import sys; sys.modules['cupy'] = None; from tempi.pack import cuda; print(cuda.cuda_available())"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_kernel_names_cover_every_word_and_level_count() -> None:
    names = cuda.kernel_names()
    assert len(set(names)) == len(names) == 5 * 8 + 3 + 2 * 3
    for word in cuda.WORD_TYPES.values():
        assert f"tempi_strided<{word}, 3>" in names
        assert f"tempi_blocklist_n<{word}>" in names


@pytest.mark.parametrize(
    ("align", "ptrs", "expected"),
    [
        (16, (0x1000, 0x2000), 16),
        (48, (0x1000, 0x2010), 16),
        (8, (0x1000, 0x2000), 8),
        (16, (0x1001, 0x2000), 1),
        (16, (0x1002, 0x2000), 2),
        (16, (0x1000, 0x2004), 4),
        (12, (0x1000, 0x2000), 4),
        (3, (0x1000, 0x2000), 1),
    ],
)
def test_word_size_divides_every_address_and_offset(align, ptrs, expected) -> None:
    desc = StridedBlock(0, align, (2,), (align,), 2 * align, 0, 2 * align)
    assert cuda.word_size(desc, *ptrs) == expected


def test_word_size_counts_block_list_offsets() -> None:
    desc = BlockList(np.array([0, 40]), np.array([16, 8]), size=24, extent=48)
    assert cuda.word_size(desc, 0x1000, 0x2000) == 8


@pytest.mark.parametrize(
    ("rows", "row_words"),
    [(1, 1), (1, 64), (1, 10**9), (4, 3), (1024, 1), (10**7, 1), (70000, 300), (3, 257)],
)
def test_launch_shape_covers_work_within_limits(rows: int, row_words: int) -> None:
    sms = 132
    (gx, gy, gz), (bx, by, bz) = cuda.launch_shape(rows, row_words, sms)
    assert gz == bz == 1
    assert 1 <= bx * by <= 256
    assert bx & (bx - 1) == 0
    assert 1 <= gy <= 65535 and 1 <= gx <= 2**31 - 1
    assert gx * gy <= 32 * sms
    assert bx >= min(row_words, 256)
    assert by <= rows
    threads = gx * gy * bx * by
    assert threads <= max(2 * rows * row_words, 256)


def test_small_object_is_one_small_block() -> None:
    assert cuda.launch_shape(1, 64, 132) == ((1, 1, 1), (64, 1, 1))
    assert cuda.launch_shape(1024, 1, 132) == ((1, 4, 1), (1, 256, 1))


def test_piece_table_splits_and_prefix_sums() -> None:
    offsets = np.array([100, -32, 0, 4096])
    lengths = np.array([40, 0, 70, 16])
    desc = BlockList(offsets, lengths, size=126, extent=8192)
    table = cuda.piece_table(desc, chunk_b=32)
    expected = [
        (100, 32, 0),
        (132, 8, 32),
        (0, 32, 40),
        (32, 32, 72),
        (64, 6, 104),
        (4096, 16, 110),
    ]
    assert [tuple(row) for row in table.tolist()] == expected
    assert table[:, 1].sum() == lengths.sum()
