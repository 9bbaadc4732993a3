"""PostgreSQL's tables: finding them, creating them, and upgrading an older schema inside a
write transaction. The schema version is the `schema_version` row of `meta`; PostgreSQL
databases started at schema 2."""

from __future__ import annotations

from typing import TYPE_CHECKING

from seatctl.core.errors import Reason, database_error
from seatctl.storage import sql
from seatctl.storage.postgres.driver import psycopg
from seatctl.storage.postgres.transaction import SCHEMA_LOCK

if TYPE_CHECKING:
    from seatctl.storage.postgres.driver import Connection

_TABLES = ("meta", "seats", "events", "tokens", "shows", "seat_states")
# Labels are ASCII and must sort exactly as in SQLite (byte order), whatever the database's
# default collation, hence COLLATE "C" (linguistic collations ignore punctuation, fold case).
_CREATE_TABLES = """
CREATE TABLE meta (key text PRIMARY KEY, value text);
CREATE TABLE seats (
    label text COLLATE "C" PRIMARY KEY,
    sort_key text COLLATE "C" NOT NULL,
    section text,
    seat_row text,
    seat_number bigint,
    category text,
    map_order bigint
);
CREATE INDEX seats_sort_key_label ON seats (sort_key, label);
CREATE TABLE events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at bigint NOT NULL,
    seat text COLLATE "C" NOT NULL,
    action text NOT NULL,
    "user" text,
    expires_at bigint,
    show text COLLATE "C",
    reason text
);
CREATE INDEX events_seat_id ON events (seat, id);
CREATE INDEX events_seat_at ON events (seat, at);
"""
# `shows` holds the events (shows): `events` is the history's name since schema 2. A seat without
# a row in `seat_states` for an event is available in it, so adding an event is one row.
_CREATE_SHOW_TABLES = """
CREATE TABLE IF NOT EXISTS shows (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text COLLATE "C" NOT NULL UNIQUE,
    title text,
    starts_at bigint
);
CREATE TABLE IF NOT EXISTS seat_states (
    show text COLLATE "C" NOT NULL,
    seat text COLLATE "C" NOT NULL,
    locked_by text,
    lock_expires bigint,
    booked_by text,
    booked_at bigint,
    blocked_at bigint,
    block_reason text,
    PRIMARY KEY (show, seat)
);
INSERT INTO shows (name) VALUES ('default') ON CONFLICT (name) DO NOTHING;
"""
# Schema 4 -> 5 (and a new schema): each state's hold start, filled from the history.
_ADD_HELD_SINCE = f"""
ALTER TABLE seat_states ADD COLUMN IF NOT EXISTS held_since bigint;
{sql.HOLDER_INDEX};
"""
# Schema 5 -> 6 (and a new schema): each seat's position on the hall's plan; only the columns
# missing are added, so it may run again or after other steps of schema 6 adding columns.
ADD_POSITIONS = ";\n".join(
    f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}"
    for table, column, kind in sql.POSITION_COLUMNS
)
# Schema 5 -> 6 (and a new schema): each token's role, each history event's `acted_by`; only
# the columns missing are added, so it may run again or after other steps adding columns.
ADD_ROLES = ";\n".join(
    f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}"
    for table, column, kind in sql.ROLE_COLUMNS
)
# Schema 6 -> 7 (and a new schema): the id of the token each history event is about; only the
# column missing is added, so it may run again.
ADD_TOKEN_IDS = ";\n".join(
    f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}"
    for table, column, kind in sql.TOKEN_ID_COLUMNS
)
# Schema 2 or 3 -> 4 (between sql.STATES_TO_DEFAULT and sql.HISTORY_TO_DEFAULT): the seats'
# states move to the event `default`, the seats get their place in the map.
_MAP_COLUMNS = """
ALTER TABLE seats DROP COLUMN locked_by, DROP COLUMN lock_expires, DROP COLUMN booked_by,
    DROP COLUMN booked_at, ADD COLUMN section text, ADD COLUMN seat_row text,
    ADD COLUMN seat_number bigint, ADD COLUMN category text, ADD COLUMN map_order bigint;
ALTER TABLE events ADD COLUMN show text COLLATE "C", ADD COLUMN reason text;
"""
# Whether the indexes outside the data model exist (sql.CREATE_SEAT_AT_INDEX and
# sql.CREATE_SEATS_PLACE_INDEX).
_HAS_LOOKUP_INDEXES = (
    "SELECT to_regclass(quote_ident(current_schema()) || '.events_seat_at') IS NOT NULL"
    " AND to_regclass(quote_ident(current_schema()) || '.seats_place') IS NOT NULL"
)
# Only a hash of each token is stored; a token is found by its (unique) hash.
_CREATE_TOKENS = """
CREATE TABLE IF NOT EXISTS tokens (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hash text NOT NULL UNIQUE,
    "user" text NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint,
    last_used_at bigint
);
"""
_FIND_TABLES = """
SELECT current_schema(), ARRAY(
    SELECT relname::text FROM pg_class
    WHERE relnamespace = to_regnamespace(current_schema()) AND relname = ANY(%s)
)
"""
_SET_VERSION = "UPDATE meta SET value = %s WHERE key = 'schema_version'"
# A new schema: the first tables and every upgrade step's additions, sent as one script (one
# round trip to the server, not one per step).
_CREATE_NEWEST = ";\n".join(
    (
        _CREATE_TABLES,
        _CREATE_TOKENS,
        _CREATE_SHOW_TABLES,
        _ADD_HELD_SINCE,
        ADD_POSITIONS,
        ADD_ROLES,
        ADD_TOKEN_IDS,
        sql.CREATE_SEATS_PLACE_INDEX,
        f"INSERT INTO meta (key, value) VALUES ('schema_version', '{sql.SCHEMA_VERSION:d}')",
    )
)


def state(conn: Connection) -> tuple[str | None, list[str], int | None]:
    """The schema new tables go to, which of seatctl's table names it already holds, and the
    schema version recorded in `meta` (None if there is none, or `meta` is not seatctl's)."""
    row = conn.execute(_FIND_TABLES, (list(_TABLES),)).fetchone()
    assert row is not None
    schema, tables = row[0], list(row[1])
    if "meta" not in tables:
        return schema, tables, None
    # Read through to_jsonb so that another program's `meta`, of whatever shape, gives NULL
    # rather than an error.
    found = conn.execute(
        "SELECT to_jsonb(m) ->> 'value' FROM meta AS m"
        " WHERE to_jsonb(m) ->> 'key' = 'schema_version'"
    ).fetchone()
    value = found[0] if found else None
    return schema, tables, int(value) if value and value.isdigit() else None


def usable_version(
    location: str, schema: str | None, tables: list[str], version: int | None
) -> int:
    """The version of tables of a schema version we know; refuses anything else, with the
    right reason."""
    if not tables:
        raise database_error(
            Reason.NO_DATABASE, f"{location} is not initialised: run 'seatctl init' first"
        )
    if version is None:
        names = ", ".join(sorted(tables))
        raise database_error(
            Reason.BAD_DATABASE,
            f"{location} has tables named {names} in schema {schema}, but not seatctl's",
        )
    if version > sql.SCHEMA_VERSION:
        raise database_error(
            Reason.NEWER_SCHEMA,
            f"{location} was written by a newer seatctl (schema {version});"
            " upgrade seatctl to use it",
        )
    if version < 2:
        raise database_error(
            Reason.BAD_DATABASE, f"{location} has an unknown seatctl schema {version}"
        )
    return version


def create_tables(conn: Connection, location: str) -> int | None:
    """Create seatctl's tables, inside the caller's write transaction, unless another init has
    meanwhile: then the version of its tables; None when this call made them."""
    conn.execute(SCHEMA_LOCK)  # concurrent inits queue here
    schema, tables, version = state(conn)  # another init may have won the race
    if tables:
        return usable_version(location, schema, tables, version)
    if schema is None:
        raise database_error(
            Reason.BAD_DATABASE,
            f"cannot initialise {location}: no schema in its search_path exists"
            " (create it with CREATE SCHEMA first)",
        )
    conn.execute(_CREATE_NEWEST)
    return None


def upgrade(conn: Connection) -> int:
    """Versions 2 to 6 -> 7 inside the caller's write transaction, losslessly: add the tokens
    table, move the seats' states to the event `default` and add the seat map (to 4), then add
    each state's hold start, from the history (to 5), then the seats' positions, the tokens'
    roles and the history's `by` (to 6), then the history's token ids (to 7). The version the
    schema is at after."""
    conn.execute(SCHEMA_LOCK)  # another host may be upgrading the same schema
    _, _, version = state(conn)
    if version is not None and version >= sql.SCHEMA_VERSION:  # another host just did
        return version
    if version is None or version < 4:
        conn.execute(_CREATE_TOKENS)
        conn.execute(_CREATE_SHOW_TABLES)
        conn.execute(sql.STATES_TO_DEFAULT)
        conn.execute(_MAP_COLUMNS)
        conn.execute(sql.HISTORY_TO_DEFAULT)
        conn.execute(sql.MAP_ORDER_BY_LABEL)
    if version is None or version < 5:
        conn.execute(_ADD_HELD_SINCE)
        conn.execute(sql.HELD_SINCE_FROM_HISTORY)
    conn.execute(ADD_POSITIONS)
    conn.execute(ADD_ROLES)
    conn.execute(ADD_TOKEN_IDS)
    conn.execute(sql.CREATE_SEATS_PLACE_INDEX)
    conn.execute(_SET_VERSION, (str(sql.SCHEMA_VERSION),))
    return sql.SCHEMA_VERSION


def make_sure_of_the_indexes(conn: Connection) -> None:
    """Create the (seat, at) and seats_place indexes if this schema lacks them."""
    if conn.execute(_HAS_LOOKUP_INDEXES).fetchone()[0]:  # type: ignore[index]
        return
    conn.execute("SAVEPOINT seatctl_index")
    try:
        conn.execute(SCHEMA_LOCK)  # another host may be creating them too
        conn.execute(sql.CREATE_SEAT_AT_INDEX)
        conn.execute(sql.CREATE_SEATS_PLACE_INDEX)
    except psycopg.errors.InsufficientPrivilege:
        # Only the table's owner may index it. A writer who is not the owner still writes:
        # its clock check reads every event of a seat, as before the index.
        conn.execute("ROLLBACK TO SAVEPOINT seatctl_index")
    conn.execute("RELEASE SAVEPOINT seatctl_index")
