"""Configuration table, parsing, the problems it reports, the C reader generated from it,
and the README generated from it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tempi import config
from tempi.shim import config_gen

README = Path(__file__).parents[2] / "README.md"

SPELLINGS = [
    *config.TRUE,
    *config.FALSE,
    *(s.upper() for s in config.TRUE + config.FALSE),
    " Yes ",
    "\tOFF\n",
    "On",
    "",
    "2",
    "-1",
    "y",
    "n",
    "truee",
    "disable",
    "0x1",
    "10",
    "auto",
]
"""Every accepted spelling and a few that are not: C and Python must agree on each."""

C_VARIABLES = [var for var in config.VARIABLES if var.in_c]


def test_readme_table_is_generated_from_config():
    assert config.markdown_table() in README.read_text()


def test_readme_lists_the_accepted_spellings():
    text = README.read_text()
    for spelling in config.TRUE + config.FALSE:
        assert f"`{spelling}`" in text, spelling
    assert "| `MPICC` |" in text


def test_bad_value_is_one_error_and_keeps_the_default(capsys, monkeypatch):
    monkeypatch.delenv(config.CHECKED, raising=False)
    values, problems = config.parse({"TEMPI_LOG": "loud", "TEMPI_DATATYPE": "oneshto"})
    assert values["TEMPI_LOG"] == "warning" and values["TEMPI_DATATYPE"] == "auto"
    assert [p.level for p in problems] == ["error", "error"]
    assert "did you mean oneshot?" in str(problems[0])  # (the table's order)
    for _ in range(3):  # read again and again (reload, every rank's first use): said once
        config.read({"TEMPI_DATATYPE": "oneshto"})
    err = capsys.readouterr().err
    assert err.count("TEMPI_DATATYPE='oneshto'") == 1, err
    assert err.startswith("tempi: error: ") and "config.py" not in err  # no source line


def test_only_the_first_rank_reports(capsys, monkeypatch):
    monkeypatch.delenv(config.CHECKED, raising=False)
    monkeypatch.setenv("PMI_RANK", "1")
    config.read({"TEMPI_LOG": "shouty"})
    monkeypatch.setenv("PMI_RANK", "0")
    monkeypatch.setenv(config.CHECKED, "1")  # tempi run has said it already
    config.read({"TEMPI_LOG": "shouty"})
    assert capsys.readouterr().err == ""


def test_unknown_name_names_the_closest_variable():
    problems = config.problems({"TEMPI_HOTS": "1", "TEMPI_RANDOM_TYPES": "5", "HOME": "/"})
    assert [str(p) for p in problems] == [
        "tempi: warning: TEMPI_HOTS is not a tempi variable (ignored); did you mean TEMPI_HOST?"
    ]
    assert config.problems({"TEMPI_DATATYPE_ONESHOT": ""}) == []  # an alias is known


def test_values_parse():
    values = config.read({"TEMPI_CUDA_AWARE": "1", "TEMPI_LOG": "DEBUG"})
    assert values["TEMPI_CUDA_AWARE"] is True and values["TEMPI_LOG"] == "debug"
    assert config.read({"TEMPI_CUDA_AWARE": "auto"})["TEMPI_CUDA_AWARE"] is None
    assert config.read({"TEMPI_CUDA_AWARE": " No "})["TEMPI_CUDA_AWARE"] is False


def _python_reads(name: str, spelling: str) -> int:
    var = next(v for v in config.VARIABLES if v.name == name)
    values, problems = config.parse({name: spelling})
    return int(values[name]) if not problems else int(bool(var.default))


@pytest.fixture(scope="module")
def c_reader(tmp_path_factory) -> Path:
    """A C program built on the generated header, printing what the interposer reads."""
    where = tmp_path_factory.mktemp("config_gen")
    (where / config_gen.HEADER).write_text(config_gen.header())
    source = where / "reader.c"
    source.write_text(
        '#include "config_gen.h"\n#include <stdio.h>\n'
        "int main(int argc, char **argv)\n{\n"
        '    for (int i = 1; i < argc; ++i) printf("%d\\n", tempi_i_config_bool(argv[i]));\n'
        "    return 0;\n}\n"
    )
    binary = where / "reader"
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-Wall", "-Werror", "-o", str(binary), str(source)], check=True)
    return binary


@pytest.mark.parametrize("spelling", SPELLINGS, ids=repr)
def test_c_reads_every_spelling_as_python_does(c_reader, spelling):
    names = [var.name for var in C_VARIABLES]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPI_")}
    env.update(dict.fromkeys(names, spelling))
    out = subprocess.run(
        [str(c_reader), *names], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert [int(x) for x in out] == [_python_reads(n, spelling) for n in names]


def test_c_reads_unset_variables_as_their_defaults(c_reader):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPI_")}
    names = [var.name for var in C_VARIABLES]
    out = subprocess.run([str(c_reader), *names, "TEMPI_LOG"], env=env, capture_output=True)
    assert [int(x) for x in out.stdout.split()] == [int(bool(v.default)) for v in C_VARIABLES] + [
        -1
    ]


def test_generated_header_covers_every_boolean_the_interposer_reads():
    from tempi._native import native_dir

    source = "".join(p.read_text() for p in sorted(native_dir().glob("*.c")))
    read_in_c = {v.name for v in config.VARIABLES if f'tempi_i_config_bool("{v.name}")' in source}
    assert read_in_c == {v.name for v in C_VARIABLES}
    assert 'getenv("TEMPI_DISABLE")' not in source  # no second reader


def test_cache_dir_precedence(tempi_env, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    tempi_env()
    assert config.cache_dir() == tmp_path / "xdg" / "tempi"
    tempi_env(TEMPI_CACHE_DIR=str(tmp_path / "mine"))
    assert config.cache_dir() == tmp_path / "mine"


def test_cuda_aware_override(tempi_env):
    from tempi import system

    tempi_env(TEMPI_CUDA_AWARE="1")
    assert system.cuda_aware_mpi() == (True, "TEMPI_CUDA_AWARE")


def test_print_the_generated_header():
    out = subprocess.run(
        [sys.executable, "-m", "tempi.shim.config_gen"], capture_output=True, text=True, check=True
    ).stdout
    assert out == config_gen.header()
