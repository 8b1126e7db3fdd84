"""Loggers named ``tempi.<subpackage>``; every line is tagged ``[rank@host]``."""

from __future__ import annotations

import logging
import os
import socket

_configured = False


class _RankFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.rank_host = f"[{_rank()}@{socket.gethostname()}]"
        return True


def _rank() -> str:
    for var in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK"):
        if var in os.environ:
            return os.environ[var]
    return "0"


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(f"tempi.{name}")`` with tempi's handler set up once."""
    global _configured
    if not _configured:
        from tempi import config

        root = logging.getLogger("tempi")
        handler = logging.StreamHandler()
        handler.addFilter(_RankFilter())
        handler.setFormatter(logging.Formatter("%(rank_host)s %(name)s %(levelname)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(config.get("TEMPI_LOG").upper())
        root.propagate = False
        _configured = True
    return logging.getLogger(f"tempi.{name}")
