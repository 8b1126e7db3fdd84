"""Configuration table, parsing, and the README generated from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tempi import config

README = Path(__file__).parents[2] / "README.md"


def test_readme_table_is_generated_from_config():
    assert config.markdown_table() in README.read_text()


def test_bad_value_warns_and_keeps_default():
    with pytest.warns(UserWarning, match="TEMPI_LOG"):
        values = config.read({"TEMPI_LOG": "loud"})
    assert values["TEMPI_LOG"] == "warning"


def test_values_parse():
    values = config.read({"TEMPI_CUDA_AWARE": "1", "TEMPI_LOG": "DEBUG"})
    assert values["TEMPI_CUDA_AWARE"] is True and values["TEMPI_LOG"] == "debug"
    assert config.read({"TEMPI_CUDA_AWARE": "auto"})["TEMPI_CUDA_AWARE"] is None


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
