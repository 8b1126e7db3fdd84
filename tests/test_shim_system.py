"""Plans of strategy ``system`` (issue 14): where the performance model measured the
system MPI's own typed path faster than tempi's packed route for host data, the
interposer's C engine hands the user's buffer and datatype to the MPI as they are. The
point-to-point program must give plain MPI's bytes and statuses, and TEMPI_STATS must
count those messages as passed_through, not packed. The choice is forced both ways with
a profile whose host tables say so (in a TEMPI_CACHE_DIR of the test's own, beside the
built shim)."""

from __future__ import annotations

import numpy as np
import pytest

from tempi import config
from tempi.model import defaults, host
from tempi.model.profile import Profile, profile_path, save
from tempi.model.table import Table

from .test_shim import P2P, _lines, _plain, _stats, _tempi_run


def _cache_with(tmp_path, typed_faster: bool):
    """A cache directory holding the built shim (linked) and a profile whose host tables
    say the typed path is faster (or slower) at every size."""
    from tempi.shim import build

    build.build()
    (tmp_path / "shim").symlink_to(config.cache_dir() / "shim", target_is_directory=True)
    base = defaults.profile()
    sizes = (64.0, 1 << 20)
    fast, slow = (
        Table(("bytes",), (sizes,), np.array([1e-6, 1e-6])),
        Table(("bytes",), (sizes,), np.array([1e-3, 1e-3])),
    )
    tables = dict(base.tables)
    for where in ("local", "remote"):
        typed, packed = host.tables_for(where)
        tables[typed], tables[packed] = (fast, slow) if typed_faster else (slow, fast)
    key = profile_path().stem
    save(Profile(tables, {**base.meta, "key": key}), tmp_path / "profiles" / f"{key}.json")
    return str(tmp_path)


@pytest.mark.parametrize("nranks", [1, 2])
@pytest.mark.parametrize("typed_faster", [True, False], ids=["system", "packed"])
def test_system_plans_give_plain_results(program, tmp_path, nranks, typed_faster):
    """tests/c/p2p.c (Isend/Irecv with every completion call, Send/Ssend/Recv with
    wildcards and Get_count, Sendrecv with a short receive, Sendrecv_replace,
    Request_free, Request_get_status) under TEMPI_HOST=1: plain MPI's records either
    way; with the system's path chosen nothing is packed and every message is passed."""
    cache = _cache_with(tmp_path, typed_faster)
    plain = _plain(nranks, [program(P2P)])
    shim = _tempi_run(nranks, [program(P2P)], TEMPI_HOST="1", TEMPI_CACHE_DIR=cache)
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    records = _lines(shim.stdout, "rank")
    assert records == _lines(plain.stdout, "rank")
    assert not any("WRONG" in r for r in records), records
    stats = _stats(shim.stdout)
    assert len(stats) == nranks, shim.stdout + shim.stderr
    messages = 34 if nranks == 1 else 36
    for counters in stats:
        if typed_faster:
            assert counters["packed_host"] == 0, counters
            assert counters["passed_through"] == messages + 6, counters
        else:
            assert counters["packed_host"] == messages, counters
            assert counters["passed_through"] == 6, counters
