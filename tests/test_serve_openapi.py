"""`GET /openapi.json` is an OpenAPI 3.1 document of every endpoint, and the server keeps to it:
Schemathesis sends generated requests to every operation, with every one of its checks (`all`:
no 5xx, only documented statuses, headers and bodies, every request the document allows is
accepted and every one it forbids refused, auth enforced where the document requires it),
against both documents: with tokens, and the `--no-auth` one, which requires no auth.

Bounded to a few examples per operation; the `soak` Hypothesis profile runs 20 times more."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from importlib.util import find_spec
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from seatctl import Venue

pytest.importorskip("starlette")
# Schemathesis is imported by the one test that runs it: it takes longer to import than the
# rest of the suite's modules together, and every test process collects this file.
pytestmark = pytest.mark.skipif(find_spec("schemathesis") is None, reason="needs schemathesis")

from seatctl.core import validate  # noqa: E402
from seatctl.core.errors import ExitCode, Reason, SeatctlError  # noqa: E402
from seatctl.server.app import PROTOTYPE_PATHS, App, create_app  # noqa: E402
from seatctl.server.local import Local  # noqa: E402
from seatctl.server.worker import Worker  # noqa: E402

# Ten examples per operation and mode by default: the file runs in seconds. `soak` (2000
# examples a test) gives each 200.
EXAMPLES = max(10, settings.default.max_examples // 10)
# The prototype answers a refused change with 400 (its contract, documented as such): there a
# request the document allows may get 400, but only for a refusal (checked below).
PROTOTYPE_CHANGES = sorted(PROTOTYPE_PATHS - {"/seats"})
CONFIG = {
    "operations": [
        {
            "include-path": PROTOTYPE_CHANGES,
            "checks": {
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "429", "5xx"]
                }
            },
        }
    ]
}
REFUSALS = {"booked", "locked", "blocked", "not_holder", "expired", "max_hold", "max_seats"}


def prototype_400_is_a_refusal(ctx: Any, response: Any, case: Any) -> None:
    """On the prototype's changes, a 400 to a request the document allows is a refusal, never
    a complaint about the request."""
    if case.meta.generation.mode.is_positive and response.status_code == 400:
        reason = response.json()["reason"]
        assert reason in REFUSALS, f"a request the document allows got 400 {reason!r}"


# The server takes any printable user, section and category name (reason and title too, for
# the endpoints that take one); the document's patterns promise the ASCII part (openapi.py says
# why). A request it took whose only departure from the document is such a value is that
# promise, not a bug: each field with the rule the server applies to it.
def _name(value: str) -> None:
    if not value or not value.isprintable():
        raise SeatctlError(Reason.USAGE, "not a name", ExitCode.USAGE)


LENIENT: dict[str, Callable[[str], object]] = {
    "user": validate.user,
    "userId": validate.user,
    "section": _name,
    "category": _name,
    "reason": validate.reason,
    "title": validate.title,
}


def _taken(field: str, value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        LENIENT[field](value)
    except SeatctlError:
        return False
    return True


def _sent(case: Any, mutation: Any) -> object:
    """The value a mutation left in the request (a schema mutation records none itself)."""
    value = case.body if mutation.parameter_location.value == "body" else case.query
    for step in mutation.path:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _field(mutation: Any) -> str | None:
    pointer = mutation.schema_pointer.split("/")
    named = [f for f in LENIENT if f == mutation.parameter or f in pointer]
    return named[0] if named else None


def rejects_what_the_document_forbids(ctx: Any, response: Any, case: Any) -> None:
    """negative_data_rejection, but for the printable names outside the documented ASCII."""
    mutations = getattr(case.meta.phase.data, "mutations", ())
    if response.status_code < 400 and mutations:
        fields = [_field(m) for m in mutations]
        if all(
            field is not None and m.keywords == ("pattern",) and _taken(field, _sent(case, m))
            for field, m in zip(fields, mutations, strict=True)
        ):
            return
    from schemathesis.specs.openapi.checks import negative_data_rejection

    negative_data_rejection(ctx, response, case)


@pytest.fixture
def database(tmp_path) -> Iterator[tuple[Worker, dict[str, str]]]:
    db = str(tmp_path / "venue.db")
    Venue.init(db)
    with Venue.open(db) as venue:
        tokens = {
            "buyer": venue.add_token("alice")[0],
            "staff": venue.add_token("clerk", role="staff")[0],  # reaches the box office's
        }
    worker = Worker(db)
    worker.start()
    yield worker, tokens
    worker.stop()


def served(worker: Worker, auth: bool) -> App:
    # The test client names its server `testserver` (port 80): --no-auth must accept it.
    return create_app(worker, auth=auth, local=None if auth else Local(["testserver"], 80))


@pytest.mark.parametrize("mode", ["positive", "negative"])
@pytest.mark.parametrize(
    ("auth", "role"),
    [(True, "buyer"), (True, "staff"), (False, None)],
    ids=["buyer", "staff", "no-auth"],
)
def test_the_server_keeps_to_its_openapi_document(database, auth, role, mode):
    import schemathesis
    from schemathesis.config import SchemathesisConfig
    from schemathesis.generation.modes import GenerationMode
    from schemathesis.specs.openapi.checks import negative_data_rejection

    generation = GenerationMode(mode)
    worker, tokens = database
    app = served(worker, auth)
    headers = {"Authorization": f"Bearer {tokens[role]}"} if auth else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = SchemathesisConfig.from_dict(CONFIG)
        schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) == 19  # every route (tested below)
        # The stream never ends, so no generated request can wait for its whole answer;
        # tests/test_stream*.py check it. An operation that takes no input has no negative.
        tested = [
            op
            for op in operations
            if op.path != "/v1/stream"
            and (generation is GenerationMode.POSITIVE or op.body or list(op.iter_parameters()))
        ]
        for operation in tested:

            @given(case=operation.as_strategy(generation_mode=generation))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def keeps_to_the_document(case) -> None:
                extra = [rejects_what_the_document_forbids]
                if case.path in PROTOTYPE_CHANGES:
                    extra.append(prototype_400_is_a_refusal)
                case.call_and_validate(
                    headers=headers,
                    additional_checks=extra,
                    excluded_checks=[negative_data_rejection],
                )

            keeps_to_the_document()


def served_document(worker: Worker, auth: bool) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

        return TestClient(served(worker, auth)).get("/openapi.json").json()


@pytest.mark.parametrize("auth", [True, False], ids=["tokens", "no-auth"])
def test_the_document_is_openapi_3_1_and_lists_every_route(database, auth):
    document = served_document(database[0], auth)
    assert document["openapi"] == "3.1.0"
    routes = {route.path for route in served(database[0], auth).routes}
    assert set(document["paths"]) == routes


def test_with_tokens_the_document_requires_a_bearer_token(database):
    document = served_document(database[0], auth=True)
    assert document["security"] == [{"bearer": []}]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "401" in document["paths"]["/v1/lock"]["post"]["responses"]


def test_the_no_auth_document_requires_no_auth_anywhere(database):
    document = served_document(database[0], auth=False)
    assert "security" not in document
    assert "securitySchemes" not in document["components"]
    for operations in document["paths"].values():
        for operation in operations.values():
            assert "security" not in operation
            assert "401" not in operation["responses"]


def test_the_no_auth_document_requires_bodies_to_name_their_user(database):
    schemas = served_document(database[0], auth=False)["components"]["schemas"]
    assert "userId" in schemas["PrototypeChange"]["required"]
    for body in ("Change", "LockSeats", "LockBest"):
        assert "user" in schemas[body]["required"]


def test_with_tokens_bodies_need_not_name_their_user(database):
    schemas = served_document(database[0], auth=True)["components"]["schemas"]
    assert "userId" not in schemas["PrototypeChange"]["required"]
    assert "user" not in schemas["Change"]["required"]


def test_the_no_auth_document_says_a_change_not_sent_as_json_is_415(database):
    paths = served_document(database[0], auth=False)["paths"]
    assert "415" in paths["/v1/lock"]["post"]["responses"]
    assert "415" in paths["/lock"]["post"]["responses"]
    assert (
        "415" not in served_document(database[0], auth=True)["paths"]["/lock"]["post"]["responses"]
    )


@pytest.mark.parametrize("auth", [True, False], ids=["tokens", "no-auth"])
def test_every_operation_documents_the_answers_of_the_connection_limits(database, auth):
    # Given before a request reaches the application, so Schemathesis never sees them.
    for operations in served_document(database[0], auth)["paths"].values():
        for operation in operations.values():
            assert {"408", "431", "503"} <= set(operation["responses"])


def test_the_no_auth_document_lists_the_host_and_origin_refusal_everywhere(database):
    for operations in served_document(database[0], auth=False)["paths"].values():
        for operation in operations.values():
            assert "403" in operation["responses"]
