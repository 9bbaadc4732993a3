"""Schema 7 (issue 19): a schema 6 database upgrades in place on its first write, on both
backends: its history events gain a token id, none for those already there (a `token_add`
included), and nothing else changes; reading it first changes nothing."""

from __future__ import annotations

import pytest

from helpers import START, dump, frozen
from old_schemas import columns_after_step_twice, schema_6, schema_version
from seatctl import Venue

# The backend's part: each backend upgrades its own schema.
pytestmark = pytest.mark.backend


@pytest.fixture
def v6_db(venue_db: str) -> str:
    """Seat 1 locked by alice, one token for eve (its `token_add` without an id): at schema 6."""
    with frozen(START), Venue.open(venue_db) as venue:
        venue.lock(["1"], "alice")
        venue.add_token("eve")
    return schema_6(venue_db)


@frozen(START)
def test_reading_a_schema_6_database_shows_no_token_ids_and_changes_nothing(cli, v6_db):
    before = dump(v6_db)
    history = cli("history", "--json").json()
    assert [(e["action"], e["token"]) for e in history][-2:] == [
        ("lock", None),
        ("token_add", None),
    ]
    assert "TOKEN" not in cli("history").out.splitlines()[0].split()
    assert cli("check").out == "ok\n"
    assert dump(v6_db) == before
    assert schema_version(v6_db) == 6


@frozen(START)
def test_the_first_write_upgrades_to_7_and_the_old_token_add_names_no_token(cli, v6_db):
    history = cli("history", "--json").json()
    assert cli("token", "add", "frank").code == 0
    assert schema_version(v6_db) == 7
    after = cli("history", "--json").json()
    assert after[: len(history)] == history
    assert [(e["action"], e["user"], e["token"]) for e in after[-2:]] == [
        ("token_add", "eve", None),
        ("token_add", "frank", 2),
    ]
    assert cli("check").out == "ok\n"


@frozen(START)
def test_a_refused_write_leaves_a_schema_6_database_as_it_was(cli, v6_db):
    before = dump(v6_db)
    assert cli("token", "revoke", "9").code == 3
    assert dump(v6_db) == before
    assert schema_version(v6_db) == 6


def test_the_upgrade_step_adds_only_the_column_missing(v6_db):
    from seatctl.storage.postgres.schema import ADD_TOKEN_IDS
    from seatctl.storage.sqlite.schema import add_token_ids

    columns = columns_after_step_twice(v6_db, ADD_TOKEN_IDS, add_token_ids, ("events",))
    assert columns["events"].count("token_id") == 1
