"""A fuzzer for every staff form: each form found on the staff pages (and the filters, as query
strings) gets random and hostile values — huge strings, NUL and control characters, unicode,
negative and huge numbers, missing and repeated fields, wrong types, ids that do not exist — with
a valid CSRF token, as a signed-in admin, on SQLite and PostgreSQL. No answer may be a server
error; a form the server does not take is answered with 4xx or shown again.

VERTELPAAL_FUZZ_EXAMPLES=N (default 20, the same cases on every run) sets new examples per form.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from werkzeug.test import EnvironBuilder

from tests.admin.helpers import FUZZ_EXAMPLES, FUZZ_SETTINGS, csrf_token, login
from tests.admin.review_world import ADMIN, build
from tests.admin.test_security_headers import staff_get_paths

# Huge values make huge reprs when hypothesis reports an example; that is the point of them.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning"
)
ACCEPTED = {200, 302, 303, 400, 401, 403, 404, 405, 409, 410, 413, 415, 422, 429}
# Forms that would end the fuzzing session itself.
LEFT_OUT = {"/logout"}


@dataclass
class Field:
    name: str
    kind: str  # text, select, file, checkbox, hidden, submit, ...
    options: list[str] = field(default_factory=list)
    value: str = ""


@dataclass
class Form:
    method: str
    action: str
    multipart: bool
    fields: dict[str, Field] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        # Forms of the same kind (one per answer, per tag…) are fuzzed once.
        return self.method, "".join("N" if part.isdigit() else part for part in self.action.split("/"))


class FormFinder(HTMLParser):
    def __init__(self, page_url: str) -> None:
        super().__init__()
        self.page_url = page_url
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: Field | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            action = urljoin(self.page_url, a.get("action") or self.page_url)
            self._form = Form((a.get("method") or "get").upper(), action, "multipart" in a.get("enctype", ""))
            self.forms.append(self._form)
        elif self._form is not None and a.get("name"):
            name = a["name"]
            if tag == "input":
                self._form.fields.setdefault(
                    name, Field(name, a.get("type", "text"), value=a.get("value", ""))
                )
            elif tag == "textarea":
                self._form.fields.setdefault(name, Field(name, "textarea"))
            elif tag == "select":
                self._select = self._form.fields.setdefault(name, Field(name, "select"))
            elif tag == "button":
                self._form.fields.setdefault(name, Field(name, "submit", value=a.get("value", "")))
        if tag == "option" and self._select is not None:
            self._select.options.append(a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def find_forms(client: FlaskClient, paths: list[str]) -> dict[tuple[str, str], Form]:
    forms: dict[tuple[str, str], Form] = {}
    for path in paths:
        with client.get(path) as response:  # files and downloads stream: close them
            if response.status_code != 200 or response.mimetype != "text/html":
                continue
            finder = FormFinder(f"http://localhost{path}")
            finder.feed(response.get_data(as_text=True))
        for form in finder.forms:
            if urlsplit(form.action).path not in LEFT_OUT:
                forms.setdefault(form.key, form)
    return forms


# --- what goes into a field ----------------------------------------------------------------------

HOSTILE = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x01\x02\x1b[31m\x7f",
    "\r\n\t",
    "\u202e\u200b\ufeff",
    "😀👩🏽‍🔬",
    "-1",
    "0",
    "-99999999999999999999",
    "99999999999999999999",
    "2147483648",
    "1e309",
    "NaN",
    "3.5",
    "true",
    "null",
    "[]",
    "{}",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "%00",
    "2026-02-30",
    "0000-00-00",
    "9999-12-31",
    "25:61",
    "#zzzzzz",
    "nl\x00",
    "admin",
    "00000000-0000-0000-0000-000000000000",
]
values = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(
        alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=["Cs"]),
        min_size=1,
        max_size=20,
    ),
    st.integers(min_value=1_000, max_value=120_000).map(lambda n: "x" * n),  # huge
    st.dates().map(str),
)


def field_values(form_field: Field) -> st.SearchStrategy[list[str] | None]:
    """None: the field is left out; else one value or several (a repeated field)."""
    sensible = [option for option in form_field.options if option] or (
        [form_field.value] if form_field.value else []
    )
    typed = {
        "date": st.dates().map(str),
        "time": st.times().map(lambda moment: moment.strftime("%H:%M")),
        "number": st.integers(min_value=-(2**65), max_value=2**65).map(str),
    }.get(form_field.kind)
    one = values
    if sensible:
        one = st.one_of(one, st.sampled_from(sensible))
    if typed is not None:
        one = st.one_of(one, typed)
    return st.one_of(st.none(), one.map(lambda value: [value]), st.lists(one, min_size=2, max_size=4))


@st.composite
def form_data(draw: st.DrawFn, form: Form) -> dict[str, list[str]]:
    data: dict[str, list[str]] = {}
    for name, form_field in form.fields.items():
        if name == "csrf_token" or form_field.kind == "file":
            continue
        chosen = draw(field_values(form_field))
        if chosen is not None:
            data[name] = chosen
    extra = draw(st.dictionaries(st.text(min_size=1, max_size=12), values.map(lambda v: [v]), max_size=2))
    for name, value in extra.items():
        data.setdefault(name, value)
    return data


# --- the fuzzing --------------------------------------------------------------------------------


@dataclass
class Outcome:
    statuses: dict[int, int] = field(default_factory=dict)


def fuzz_form(client: FlaskClient, form: Form, token: str, outcome: Outcome) -> None:
    path = urlsplit(form.action).path
    files = [f.name for f in form.fields.values() if f.kind == "file"]

    def send(data: dict[str, list[str]], upload: bytes | None):  # type: ignore[no-untyped-def]
        if form.method == "GET":
            query = urlencode([(k, v) for k, vs in data.items() for v in vs])
            return client.get(f"{path}?{query}")
        body: dict[str, object] = {**data, "csrf_token": token}
        if upload is not None:
            for name in files:
                body[name] = (BytesIO(upload), "fuzz.mp4")
        multipart = form.multipart or files
        builder = EnvironBuilder(
            path, method="POST", data=body, content_type="multipart/form-data" if multipart else None
        )
        environ = builder.get_environ()
        try:
            return client.open(environ)
        finally:
            # A big body is spooled to a file that werkzeug's test client would leave open.
            environ["wsgi.input"].close()
            builder.close()

    @FUZZ_SETTINGS
    @given(data=form_data(form), upload=st.one_of(st.none(), st.binary(max_size=2048)))
    def one_request(data: dict[str, list[str]], upload: bytes | None) -> None:
        try:
            response = send(data, upload)
        except Exception as error:  # TESTING propagates what would be a 500
            raise AssertionError(f"{form.method} {path} raised {error!r}"[:3000]) from error
        status = response.status_code
        response.close()
        outcome.statuses[status] = outcome.statuses.get(status, 0) + 1
        assert status < 500, f"{form.method} {path} answered {status} to {data!r}"[:2000]
        assert status in ACCEPTED, f"{form.method} {path} answered {status}"

    # Werkzeug's multipart parser leaves the temporary file of a part it was reading when the body
    # turned out malformed to the garbage collector, which warns about it; no code of ours holds it.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Unclosed file <tempfile.SpooledTemporaryFile", ResourceWarning)
        one_request()
        gc.collect()


def test_every_staff_form_takes_garbage_without_a_server_error(
    app: Flask, client: FlaskClient, make_branch: Callable, make_user: Callable, tmp_path: Path
) -> None:
    world = build(app, make_branch, make_user, tmp_path)
    assert login(client, ADMIN) == 302
    paths = list(staff_get_paths(app)) + [f"/responses/{uuid}" for uuid in world.answers.values()]
    forms = find_forms(client, paths)
    # Every kind of form is there (a new page's forms are found by themselves).
    actions = {urlsplit(form.action).path for form in forms.values()}
    for expected in (
        "/users/new",
        "/branches",
        "/questions/new",
        "/questionnaires/new",
        "/tags",
        "/responses",
        "/responses/bulk",
        "/kiosks/approve",
        "/account",
    ):
        assert expected in actions, (expected, sorted(actions))
    assert any(a.endswith("/notes") for a in actions) and any(a.endswith("/move") for a in actions)
    assert any(a.endswith("/revoke") for a in actions) and any(a.endswith("/status") for a in actions)

    token = csrf_token(client, "/account")
    outcome = Outcome()
    for form in forms.values():
        fuzz_form(client, form, token, outcome)
        # Still signed in: the fuzzer never ended its own session.
        assert client.get("/account").status_code == 200, form.action
    assert outcome.statuses.get(200, 0) + outcome.statuses.get(302, 0) > 0
    assert sum(outcome.statuses.values()) >= len(forms) * FUZZ_EXAMPLES
    print(f"{len(forms)} forms, answers by status: {dict(sorted(outcome.statuses.items()))}")


def test_the_sign_in_forms_take_garbage_without_a_server_error(
    app: Flask, client: FlaskClient, make_user: Callable
) -> None:
    from admin.models import Role

    make_user("boss@bieb.example", Role.ADMIN)
    forms = find_forms(client, ["/login"])
    assert list(forms) == [("POST", "http:localhostlogin")]  # the sign-in form, by its key
    token = csrf_token(client, "/login")
    outcome = Outcome()
    for form in forms.values():
        fuzz_form(client, form, token, outcome)
    # The code step, without and with a pending password step.
    code_form = Form("POST", "http://localhost/login/code", False, {"code": Field("code", "text")})
    fuzz_form(client, code_form, token, outcome)
    assert login(app.test_client(), "boss@bieb.example") in (302, 429)


# --- what the fuzzer found, kept as plain tests ---------------------------------------------------


def test_found_by_the_fuzzer(
    app: Flask, client: FlaskClient, make_branch: Callable, make_user: Callable, tmp_path: Path
) -> None:
    from admin.models import Role

    make_user("boss@bieb.example", Role.ADMIN)
    assert login(client, "boss@bieb.example") == 302
    token = csrf_token(client, "/branches")
    # A name with a character SQLite's lower() does not know, twice: "already exists", not a crash.
    assert client.post("/branches", data={"name": "Ôdoorn", "csrf_token": token}).status_code == 302
    again = client.post("/branches", data={"name": "Ôdoorn", "csrf_token": token}, follow_redirects=True)
    assert again.status_code in (200, 422) and "Ôdoorn" in again.get_data(as_text=True)
    with app.app_context():
        from admin.extensions import db
        from admin.models import Branch

        assert db.session.scalar(select(func.count()).where(Branch.name == "Ôdoorn")) == 1
    # NUL in a form or a filter: 400 (PostgreSQL cannot store it).
    assert client.post("/branches", data={"name": "a\x00b", "csrf_token": token}).status_code == 400
    assert client.get("/responses?tag=1%00").status_code == 400
    # A multipart part without a name.
    body = (
        b'--b\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n' + token.encode() + b"\r\n"
        b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n"
    )
    response = client.post("/questions/new", data=body, content_type="multipart/form-data; boundary=b")
    assert response.status_code == 400
    # Days at the ends of the calendar, and a huge audit filter.
    for query in ("to=9999-12-31", "from=0001-01-01", "to=0001-01-01"):
        assert client.get(f"/responses?{query}").status_code == 200, query
    huge = "x" * 60_000
    assert (
        client.get(f"/privacy/audit?actor={huge}&action={huge}&before=99999999999999999999").status_code
        == 200
    )
