"""Lab 08's rule for where a claim holds PostgreSQL's data (postgres:15 declares its PGDATA a VOLUME)."""
import pytest

from labkit.labs.lab08 import keeps_data


@pytest.mark.parametrize("mount, pgdata, kept", [
    ("/var/lib/postgresql/data", "/var/lib/postgresql/data", True),   # the solution
    ("/var/lib/postgresql/data", "/var/lib/postgresql/data/pgdata", True),  # PGDATA in a folder of the claim
    ("/pg", "/pg/db", True),                                          # PGDATA moved away from the image's volume
    ("/var/lib/postgresql", "/var/lib/postgresql/data", False),       # postgres 18's advice: the image's volume shadows it
    ("/data", "/var/lib/postgresql/data", False),                     # mounted where postgres never writes
])
def test_a_claim_keeps_the_data_only_where_postgres_writes_it_unshadowed(mount, pgdata, kept):
    assert keeps_data(mount, pgdata) is kept
