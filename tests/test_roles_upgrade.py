"""Schema 6 (issue 21): a schema 5 database upgrades in place on its first write, on both
backends: its tokens become buyers' tokens, its history entries name no `by`, nothing else
changes; reading it first changes nothing."""

from __future__ import annotations

import pytest

from helpers import START, dump, frozen
from old_schemas import columns_after_step_twice, schema_5, schema_version
from seatctl import Venue

# The backend's part: each backend upgrades its own schema.
pytestmark = pytest.mark.backend


@pytest.fixture
def v5_db(venue_db: str) -> str:
    """Seat 1 booked by alice, seat 2 locked by bob, seat 3 blocked, one token for eve: at
    schema 5."""
    with frozen(START), Venue.open(venue_db) as venue:
        venue.lock(["1"], "alice")
        venue.confirm(["1"], "alice")
        venue.lock(["2"], "bob", ttl=3600)
        venue.block(["3"], "camera")
        venue.add_token("eve")
    return schema_5(venue_db)


@frozen(START)
def test_reading_a_schema_5_database_shows_buyers_and_no_by_and_changes_nothing(cli, v5_db):
    before = dump(v5_db)
    assert [t["role"] for t in cli("token", "list", "--json").json()] == ["buyer"]
    assert {e["by"] for e in cli("history", "--json").json()} == {None}
    assert cli("check").out == "ok\n"
    assert dump(v5_db) == before
    assert schema_version(v5_db) == 5


@frozen(START)
def test_the_first_write_upgrades_to_7_losing_nothing(cli, v5_db):
    seats = cli("seats", "--json").json()
    history = cli("history", "--json").json()
    tokens = cli("token", "list", "--json").json()
    assert cli("lock", "4", "--user", "carol", "--by", "clerk1").code == 0
    assert schema_version(v5_db) == 7
    assert cli("seats", "--json").json()[:3] == seats[:3]
    after = cli("history", "--json").json()
    assert after[: len(history)] == history
    assert (after[-1]["action"], after[-1]["by"]) == ("lock", "clerk1")
    assert cli("token", "list", "--json").json() == tokens
    assert cli("check").out == "ok\n"


@frozen(START)
def test_an_upgraded_databases_token_acts_as_a_buyer(cli, v5_db):
    with Venue.open(v5_db) as venue:
        token, _ = venue.add_token("clerk1", role="staff")  # the write that upgrades
        assert venue.principal(token).role == "staff"
        eve = venue.tokens()[0]
    assert (eve.user, eve.role) == ("eve", "buyer")


@frozen(START)
def test_the_upgrade_step_adds_only_the_columns_missing(v5_db):
    from seatctl.storage.postgres.schema import ADD_ROLES
    from seatctl.storage.sqlite.schema import add_roles

    columns = columns_after_step_twice(v5_db, ADD_ROLES, add_roles, ("tokens", "events"))
    assert (columns["tokens"].count("role"), columns["events"].count("acted_by")) == (1, 1)
