"""The interposer's one spec (tempi/shim/spec.py): the shim built from it exports every MPI
symbol it exported before the entry points were generated (tests/c/fixtures, taken with
``nm -D --defined-only`` from that build, per MPI wheel) and exactly the spec's; each entry
point is written once, plainly, in the generated source; C and Python read the same
constants; no hand-written entry point or shared constant is left in native/."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mpi4py import MPI

from tempi._native import native_dir
from tempi.comm import engine
from tempi.shim import build, callbacks, generate, spec

FIXTURES = Path(__file__).parent / "c" / "fixtures"
OPEN_MPI = "Open MPI" in MPI.Get_library_version()


@pytest.fixture(scope="module")
def shim() -> Path:
    return build.build()


def _exported(shim: Path) -> set[str]:
    out = subprocess.run(
        ["nm", "-D", "--defined-only", str(shim)], capture_output=True, text=True, check=True
    ).stdout
    return {line.split()[-1] for line in out.splitlines() if line.split()[-1:]}


@pytest.mark.skipif(shutil.which("nm") is None, reason="no nm (binutils) on this machine")
def test_shim_exports_the_symbols_it_did_plus_the_new_ones(shim):
    exported = _exported(shim)
    fixture = FIXTURES / ("shim_symbols_openmpi.txt" if OPEN_MPI else "shim_symbols_mpich.txt")
    before = set(fixture.read_text().split())
    assert before - exported == set(), "symbols the shim no longer exports"
    mpi = {s for s in exported if s.startswith("MPI_")}
    large = MPI.Get_version()[0] >= 4
    assert mpi == set(generate.symbols(large)), "exported MPI symbols differ from the spec"
    assert any(s.endswith("_c") for s in mpi) == large
    assert not {s for s in exported if s.startswith("tempi_i_")}, "internals must stay hidden"


def test_each_entry_point_is_written_once_in_the_generated_source(shim):
    source = (shim.parent / generate.SOURCE).read_text()
    assert source == generate.source()
    for entry in spec.ENTRIES:
        forms = [""] + (["_c"] if entry.large else [])
        for suffix in (s for s in forms if generate.emitted(entry, s)):
            name, params = entry.form(suffix)
            assert source.count(f"int {name}({params})\n") == 1, name
    assert "int MPI_Isend(const void *buf, int count," in source
    assert "int MPI_Isend_c(const void *buf, MPI_Count count," in source


@pytest.mark.skipif(shutil.which("nm") is None, reason="no nm (binutils) on this machine")
def test_guarded_entry_points_exist_where_the_mpi_declares_them(shim):
    """MPI-4.1's MPI_Comm_attach_buffer/MPI_Session_attach_buffer: defined (with tempi's
    refusal of device memory) by an MPI that declares them (the MPICH 5 wheel), absent
    from the shim of one that does not (the Open MPI 5 wheel), which still builds."""
    exported = _exported(shim)
    has = MPI.Get_version() >= (4, 1)
    for name in ("MPI_Comm_attach_buffer", "MPI_Session_attach_buffer"):
        assert (name in generate.declared()) == has, name
        assert (name in exported) == has, name
    source = (shim.parent / generate.SOURCE).read_text()
    assert ("int MPI_Comm_attach_buffer(MPI_Comm comm" in source) == has
    if has:
        body = source.split("int MPI_Comm_attach_buffer(")[1].split("\n}\n")[0]
        assert "tempi_i_refuses_attach(buffer)" in body and "tempi_i_raise(comm" in body


def test_show_source_prints_the_generated_entry_points(shim):
    out = subprocess.run(
        [sys.executable, "-m", "tempi.cli", "build-shim", "--show-source"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(out) == shim.parent / generate.SOURCE
    assert "int MPI_Send(" in Path(out).read_text()


def test_native_defines_no_entry_point_and_no_shared_constant():
    """Every MPI_* definition comes from the spec; so do the numbers C and Python share."""
    for source in sorted(native_dir().glob("*.[ch]")):
        text = source.read_text()
        assert not re.search(r"^int MPI_\w+\(", text, re.M), source.name
        for name in spec.constants():
            assert not re.search(rf"#define {name}\b|\b{name} = \d", text), (source.name, name)


def test_python_reads_the_constants_of_the_spec(shim):
    header = (shim.parent / generate.HEADER).read_text()
    values = dict(re.findall(r"#define (TEMPI_I_\w+) (-?\d+)", header))
    assert {k: int(v) for k, v in values.items()} == spec.constants()
    assert (callbacks.OK, callbacks.PASS, callbacks.FAILED, callbacks.ERROR) == (
        int(values["TEMPI_I_OK"]),
        int(values["TEMPI_I_PASS"]),
        int(values["TEMPI_I_FAILED"]),
        int(values["TEMPI_I_ERROR"]),
    )
    for kind in spec.COLLECTIVE_KINDS:
        assert getattr(callbacks, kind) == int(values[f"TEMPI_I_{kind}"])
    for n, mode in enumerate(engine.SEND_MODES):
        assert int(values[f"TEMPI_I_{mode.upper()}"]) == n


def test_docs_table_is_the_spec_table():
    docs = (Path(__file__).parent.parent / "docs" / "shim.md").read_text()
    assert generate.table() in docs
