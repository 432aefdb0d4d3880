"""Access across branches, in one place: staff of Roden get 404 for everything of Borger (answers,
downloads, recordings and their posters, changes, bulk changes, exports filtered to Borger,
dashboards, erasing a session), and Borger's staff likewise for Roden. A 404, not a 403, so they
learn nothing of what exists. (The inbox listing per branch is in test_responses.py.)"""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from admin.extensions import db
from admin.models import Answer, Media, Note, ReviewStatus
from tests.admin.helpers import csrf_token, login
from tests.admin.review_world import STAFF_BORGER, STAFF_RODEN, VIEWER_RODEN, World


def _read(client: FlaskClient, path: str, **kwargs: object):  # type: ignore[no-untyped-def]
    """GET a file or a streamed response, read it all, and close it."""
    with client.get(path, **kwargs) as response:
        response.get_data()
    return response


def _poster_of(app: Flask, client: FlaskClient, sha: str) -> str:
    """Make the poster frame of a recording (as its own branch's staff do by looking) and return its id."""
    assert _read(client, f"/media/{sha}/poster").status_code == 200
    with app.app_context():
        media = db.session.get(Media, sha)
        assert media is not None and media.poster_sha256
        return media.poster_sha256


def _session_of(app: Flask, answer_uuid: str) -> str:
    with app.app_context():
        answer = db.session.get(Answer, answer_uuid)
        assert answer is not None
        return answer.session_uuid


def _other_branch_paths(app: Flask, world: World, other: str, poster: str) -> list[str]:
    video, sha = world.answers[f"{other[0].lower()}_video"], world.media[f"video_{other.lower()}"]
    branch = world.branches[other]
    return [
        f"/responses/{video}",
        f"/responses/{video}/download",
        f"/media/{sha}",
        f"/media/{sha}/poster",
        f"/media/{poster}",
        f"/privacy/erase/{_session_of(app, video)}",
        *(f"{path}?branch={branch}" for path in ("/dashboard", "/dashboard.json", "/dashboard.csv")),
        f"/dashboard.xlsx?branch={branch}",
    ]


@pytest.mark.parametrize(
    ("own", "other", "staff"), [("Roden", "Borger", STAFF_RODEN), ("Borger", "Roden", STAFF_BORGER)]
)
def test_staff_get_404_for_everything_of_another_branch(
    app: Flask, client: FlaskClient, world: World, own: str, other: str, staff: str
) -> None:
    # The other branch's staff have looked at their recording: it has a poster frame.
    looker = app.test_client()
    assert login(looker, STAFF_BORGER if staff == STAFF_RODEN else STAFF_RODEN) == 302
    poster = _poster_of(app, looker, world.media[f"video_{other.lower()}"])

    assert login(client, staff) == 302
    for path in _other_branch_paths(app, world, other, poster):
        response = _read(client, path)
        assert response.status_code == 404, path
    # Their own branch's works (the same paths for their own recording are reachable).
    own_video = world.answers[f"{own[0].lower()}_video"]
    assert client.get(f"/responses/{own_video}").status_code == 200
    ranged = _read(client, f"/media/{world.media[f'video_{own.lower()}']}", headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.data) == 100
    assert client.get(f"/dashboard?branch={world.branches[own]}").status_code == 200


def test_changes_to_another_branch_are_refused_and_change_nothing(
    app: Flask, client: FlaskClient, world: World
) -> None:
    assert login(client, STAFF_RODEN) == 302
    token = csrf_token(client, "/responses")
    b_video = world.answers["b_video"]
    for path, data in (
        (f"/responses/{b_video}/status", {"status": "flagged"}),
        (f"/responses/{b_video}/tags", {"tag": "compliment"}),
        (f"/responses/{b_video}/tags/{world.tags['klacht']}/remove", {}),
        (f"/responses/{b_video}/notes", {"body": "hallo"}),
        (f"/privacy/erase/{_session_of(app, b_video)}", {}),
    ):
        assert client.post(path, data={**data, "csrf_token": token}).status_code == 404, path
    # Ticked answers of another branch in a bulk change are left alone.
    client.post(
        "/responses/bulk",
        data={"csrf_token": token, "action": "status:flagged", "scope": "selected", "answer": [b_video]},
    )
    # So is "everything under the filter" with the filter set to the other branch.
    client.post(
        f"/responses/bulk?branch={world.branches['Borger']}",
        data={"csrf_token": token, "action": "status:flagged", "scope": "filter"},
    )
    with app.app_context():
        answer = db.session.get(Answer, b_video)
        assert answer is not None and answer.review_status is not ReviewStatus.FLAGGED
        assert [tag.name for tag in answer.tags] == ["klacht"]
        assert db.session.scalars(select(Note).where(Note.answer_uuid == b_video)).all() == []


def test_exports_filtered_to_another_branch_hold_nothing_of_it(
    app: Flask, client: FlaskClient, world: World
) -> None:
    assert login(client, VIEWER_RODEN) == 302
    borger = world.branches["Borger"]
    export = _read(client, f"/responses/export.csv?branch={borger}")
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) == 1  # the header only
    workbook = openpyxl.load_workbook(
        io.BytesIO(_read(client, f"/responses/export.xlsx?branch={borger}").data), read_only=True
    )
    assert len(list(workbook.active.iter_rows(values_only=True))) == 1
    everything = _read(client, "/responses/export.csv").get_data(as_text=True)
    assert "Borger" not in everything and world.answers["b_video"] not in everything
    assert "Roden" in everything
