"""More than the interposer's first request table at once (issue 13, item 7): 20,000 of
tempi's requests alive per rank (tests/c/many_requests.c), completed by one MPI_Waitall,
give the plain run's data; before, the 8,193rd returned MPI_ERR_INTERN."""

from __future__ import annotations

from tests.test_shim import HERE, _lines, _plain, _stats, _tempi_run

MANY_REQUESTS = HERE / "c" / "many_requests.c"


def test_twenty_thousand_live_requests(program):
    plain = _plain(2, [program(MANY_REQUESTS)])
    shim = _tempi_run(2, [program(MANY_REQUESTS)], TEMPI_HOST="1")
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    records = _lines(shim.stdout, "rank")
    assert records == _lines(plain.stdout, "rank") and len(records) == 2, records
    assert all(" err 0 " in r for r in records), records
    assert all(c["packed_host"] == 20000 for c in _stats(shim.stdout)), shim.stdout
