"""Token ids are never reused (issue 19): revoking the newest token and adding another does not
give the new one the revoked id, so a script that revokes an id it stored revokes only that."""

from __future__ import annotations

from helpers import run_process
from seatctl import Venue


def test_a_revoked_tokens_id_is_not_given_to_the_next_token(venue_db):
    with Venue.open(venue_db) as venue:
        first = venue.add_token("alice")[1].id
        second = venue.add_token("bob")[1].id
        venue.revoke_token(second)
    with Venue.open(venue_db) as venue:  # and not after a new process opens it either
        third = venue.add_token("carol")[1].id
    assert first < second < third


def test_revoking_every_token_does_not_start_the_ids_again(venue_db):
    with Venue.open(venue_db) as venue:
        ids = [venue.add_token(user)[1].id for user in ("alice", "bob")]
        for token_id in ids:
            venue.revoke_token(token_id)
        assert venue.add_token("carol")[1].id > max(ids)


def test_a_stored_id_revokes_only_its_own_token(venue_db):
    with Venue.open(venue_db) as venue:
        stored = venue.add_token("alice")[1].id
    assert run_process("--db", venue_db, "token", "revoke", str(stored)).code == 0
    with Venue.open(venue_db) as venue:
        venue.add_token("bob")
    again = run_process("--db", venue_db, "token", "revoke", str(stored))
    assert again.code == 3  # not_found: bob's token is untouched
    with Venue.open(venue_db) as venue:
        assert [token.user for token in venue.tokens()] == ["bob"]
