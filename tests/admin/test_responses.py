"""Staff review: the inbox filter, keyset pages, branch scoping, in-place changes, bulk, exports."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from typing import Any

import openpyxl
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from admin.extensions import db
from admin.models import Answer, AnswerTag, AuditEvent, Media, ReviewStatus, Tag
from admin.responses.queries import AnswerFilter, Cursor
from tests.admin.helpers import csrf_token, login
from tests.admin.review_world import (
    ADMIN,
    STAFF_BORGER,
    STAFF_RODEN,
    VIEWER_RODEN,
    World,
    add_many,
)

MEDIA_CSP = "default-src 'none'; object-src 'none'; frame-ancestors 'none'; sandbox"

UUID_LINK = re.compile(r'href="/responses/([0-9a-f-]{36})(?:\?[^"]*)?"')
HX = {"HX-Request": "true"}


def table_uuids(html: str) -> list[str]:
    table = html.split('<table class="inbox">')[1].split("</table>")[0]
    return list(dict.fromkeys(UUID_LINK.findall(table)))


def listed(client: FlaskClient, query: str = "") -> list[str]:
    """The answer uuids the inbox shows (in its table), in order."""
    response = client.get(f"/responses{query}")
    assert response.status_code == 200
    return table_uuids(response.get_data(as_text=True))


def names(world: World, uuids: list[str]) -> list[str]:
    by_uuid = {v: k for k, v in world.answers.items()}
    return [by_uuid.get(u, u) for u in uuids]


def fetch(client: FlaskClient, path: str, **kwargs: Any) -> TestResponse:
    """GET a file or a streamed response, read it all, and close it (no file is left open)."""
    with client.get(path, **kwargs) as response:
        response.get_data()
    return response


def audit_actions(app: Flask) -> list[tuple[str, str, str]]:
    with app.app_context():
        return [
            (e.actor, e.action, e.target)
            for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
            if e.action.startswith("answer")
        ]


# --- the filter ------------------------------------------------------------------------------


def test_filter_reads_and_writes_its_query_string() -> None:
    args = {
        "branch": "3",
        "questionnaire": "2",
        "question": "7",
        "kind": "recording",
        "from": "2026-03-01",
        "to": "2026-03-31",
        "tag": "4",
        "status": "new",
        "before": "ignored-here",
    }
    answer_filter = AnswerFilter.from_args(args)
    assert answer_filter == AnswerFilter(
        branch=3,
        questionnaire=2,
        question=7,
        kind="recording",
        date_from=date(2026, 3, 1),
        date_to=date(2026, 3, 31),
        tag=4,
        status=ReviewStatus.NEW,
    )
    assert answer_filter.to_args() == {k: v for k, v in args.items() if k != "before"}
    # What cannot be read is left out, rather than failing or matching everything by accident.
    odd = AnswerFilter.from_args(
        {
            "branch": "abc",
            "kind": "dance",
            "from": "2026-02-30",
            "status": "old",
            "tag": "-1",
            "question": "9" * 12,
        }
    )
    assert odd == AnswerFilter() and odd.is_empty


def test_cursor_survives_the_url() -> None:
    cursor = Cursor(
        datetime(2026, 3, 1, 10, 0, 0, 123456, tzinfo=UTC), "0b7e3a4e-5f0c-4c3e-9f55-0c1f2a3b4c5d"
    )
    assert Cursor.decode(cursor.encode()) == cursor
    for bad in ("", "x_y", "123", "99999999999999999999999_abc", "12_" + "a" * 40):
        assert Cursor.decode(bad) is None


def test_filters_combine_and_stay_in_the_url(app: Flask, client: FlaskClient, world: World) -> None:
    assert login(client, ADMIN) == 302
    everything = ["r_voice", "b_video", "b_scale", "r_course", "r_video", "r_scale"]
    assert names(world, listed(client)) == everything  # newest first

    roden, borger = world.branches["Roden"], world.branches["Borger"]
    cases = {
        f"?branch={roden}": ["r_voice", "r_course", "r_video", "r_scale"],
        f"?branch={roden}&status=new": ["r_video", "r_scale"],
        "?status=new": ["b_video", "b_scale", "r_video", "r_scale"],
        "?kind=recording": ["r_voice", "b_video", "r_video"],
        "?kind=video&status=new": ["b_video", "r_video"],
        "?kind=tap": ["b_scale", "r_course", "r_scale"],
        f"?tag={world.tags['klacht']}": ["b_video", "r_video"],
        f"?tag={world.tags['klacht']}&branch={borger}": ["b_video"],
        f"?questionnaire={world.questionnaires['course']}": ["r_course"],
        f"?question={world.questions['scale']}&branch={roden}": ["r_course", "r_scale"],
        "?status=flagged": ["r_voice"],
        # Days are Dutch days: 23:30 UTC on 1 March is already 2 March in Roden.
        "?from=2026-03-01&to=2026-03-01": ["r_video", "r_scale"],
        "?from=2026-03-02&to=2026-03-02": ["b_video", "b_scale", "r_course"],
        "?from=2026-03-03": ["r_voice"],
        f"?to=2026-03-02&branch={roden}&kind=tap&status=reviewed": ["r_course"],
        f"?tag={world.tags['computers']}": [],
    }
    for query, expected in cases.items():
        assert names(world, listed(client, query)) == expected, query

    # The filter form shows what is applied, and every link on the page carries the filter.
    query = f"?branch={roden}&status=new&kind=video"
    page = client.get(f"/responses{query}").get_data(as_text=True)
    assert re.search(rf'<option selected value="{roden}">Roden</option>', page)
    assert '<option selected value="new">' in page
    detail_links = re.findall(r'href="(/responses/[0-9a-f-]{36}[^"]*)"', page)
    assert detail_links and all(f"branch={roden}" in link and "status=new" in link for link in detail_links)
    assert f"/responses/export.csv?branch={roden}&amp;kind=video&amp;status=new" in page
    assert f"/responses/export.xlsx?branch={roden}&amp;kind=video&amp;status=new" in page


def test_the_start_page_leads_to_the_new_answers_of_a_branch_in_one_click(
    client: FlaskClient, world: World
) -> None:
    assert login(client, STAFF_RODEN) == 302
    home = client.get("/").get_data(as_text=True)
    link = f"/responses?branch={world.branches['Roden']}&amp;status=new"
    assert link in home
    assert names(world, listed(client, link.replace("/responses", "").replace("&amp;", "&"))) == [
        "r_video",
        "r_scale",
    ]


# --- keyset pages ------------------------------------------------------------------------------


def _walk(client: FlaskClient, start: str, rel: str) -> list[list[str]]:
    pages, url = [], start
    while url:
        html = client.get(url).get_data(as_text=True)
        pages.append(table_uuids(html))
        match = re.search(rf'rel="{rel}" href="([^"]+)"', html)
        url = match.group(1).replace("&amp;", "&") if match else ""
        assert len(pages) < 20
    return pages


def test_keyset_pages_show_every_answer_exactly_once(app: Flask, client: FlaskClient, world: World) -> None:
    # 123 more answers in Roden, three to a second, so pages also cut inside one second.
    added = add_many(app, world, "Roden", 123, datetime(2026, 4, 1, 8, 0, tzinfo=UTC))
    assert login(client, STAFF_RODEN) == 302
    with app.app_context():
        expected = list(
            db.session.scalars(
                select(Answer.uuid)
                .where(Answer.branch_id == world.branches["Roden"])
                .order_by(Answer.answered_at.desc(), Answer.uuid.desc())
            )
        )
    assert len(expected) == 127

    older = _walk(client, "/responses", "next")
    assert [len(p) for p in older] == [50, 50, 27]
    assert [u for p in older for u in p] == expected

    # And back again from the last page: the same pages, newest first within each.
    last = client.get("/responses")
    for _ in range(2):
        link = re.search(r'rel="next" href="([^"]+)"', last.get_data(as_text=True))
        assert link
        last_url = link.group(1).replace("&amp;", "&")
        last = client.get(last_url)
    assert _walk(client, last_url, "prev") == [older[2], older[1], older[0]]

    # The same under a filter, with the filter kept on every link.
    filtered = _walk(client, "/responses?kind=tap&status=new", "next")
    new_taps = set(added) | {world.answers["r_scale"]}
    assert [u for p in filtered for u in p] == [u for u in expected if u in new_taps]


# --- branch scoping ----------------------------------------------------------------------------


def test_staff_see_nothing_of_another_branch(app: Flask, client: FlaskClient, world: World) -> None:
    assert login(client, STAFF_RODEN) == 302
    assert names(world, listed(client)) == ["r_voice", "r_course", "r_video", "r_scale"]
    # A branch outside theirs is simply empty, not an error.
    assert listed(client, f"?branch={world.branches['Borger']}") == []
    assert ">Borger<" not in client.get("/responses").get_data(as_text=True)

    # Every 404 for Borger's answers, recordings, changes and exports: test_security_branches.py.
    b_sha = world.media["video_borger"]
    token = csrf_token(client, "/responses")

    # Their own recording plays, with Range requests, and gets its poster.
    r_sha = world.media["video_roden"]
    ranged = fetch(client, f"/media/{r_sha}", headers={"Range": "bytes=100-199"})
    assert ranged.status_code == 206 and len(ranged.data) == 100
    assert client.get(f"/responses/{world.answers['r_video']}").status_code == 200

    # Borger's staff see Borger's, and not Roden's.
    client.post("/logout", data={"csrf_token": token})
    assert login(client, STAFF_BORGER) == 302
    assert names(world, listed(client)) == ["b_video", "b_scale"]
    assert fetch(client, f"/media/{b_sha}").status_code == 200
    assert fetch(client, f"/media/{r_sha}").status_code == 404
    assert client.get(f"/responses/{world.answers['r_scale']}").status_code == 404


def test_a_recording_gets_its_poster_when_staff_first_look(
    app: Flask, client: FlaskClient, world: World
) -> None:
    sha = world.media["video_roden"]
    with app.app_context():
        media = db.session.get(Media, sha)
        assert media is not None and media.poster_sha256 is None  # kiosk uploads come without
    assert login(client, STAFF_RODEN) == 302
    poster = fetch(client, f"/media/{sha}/poster")
    assert poster.status_code == 200 and poster.mimetype == "image/jpeg"
    assert poster.data[:3] == b"\xff\xd8\xff"
    with app.app_context():
        media = db.session.get(Media, sha)
        assert media is not None and media.poster_sha256 is not None
        poster_sha = media.poster_sha256
    again = fetch(client, f"/media/{sha}/poster")
    assert again.status_code == 200 and again.data == poster.data
    assert fetch(client, f"/media/{poster_sha}").status_code == 200
    # The inbox and the answer page show it.
    assert f"/media/{sha}/poster" in client.get("/responses?kind=video").get_data(as_text=True)
    assert f'poster="/media/{sha}/poster"' in client.get(f"/responses/{world.answers['r_video']}").get_data(
        as_text=True
    )
    # A voice recording has no poster; the poster frame is as private as the recording.
    assert fetch(client, f"/media/{world.media['voice_roden']}/poster").status_code == 404
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert login(client, STAFF_BORGER) == 302
    assert fetch(client, f"/media/{poster_sha}").status_code == 404
    assert fetch(client, f"/media/{sha}/poster").status_code == 404


def test_recordings_are_never_kept_in_a_browser_cache_and_never_run(
    app: Flask, client: FlaskClient, world: World
) -> None:
    sha = world.media["video_roden"]
    assert login(client, STAFF_RODEN) == 302
    for path in (f"/media/{sha}", f"/media/{sha}/poster", f"/responses/{world.answers['r_video']}/download"):
        response = fetch(client, path)
        assert response.status_code == 200, path
        # Gone from the browser after sign-out or erasure: nothing may keep a copy.
        assert response.headers["Cache-Control"] == "private, no-store", path
        assert "max-age" not in response.headers["Cache-Control"]
        assert response.headers["Content-Security-Policy"] == MEDIA_CSP, path


# --- one answer --------------------------------------------------------------------------------


def test_answer_page_shows_question_answer_and_the_visit(
    app: Flask, client: FlaskClient, world: World
) -> None:
    assert login(client, STAFF_RODEN) == 302
    page = client.get(f"/responses/{world.answers['r_video']}").get_data(as_text=True)
    assert "<video" in page and f'src="/media/{world.media["video_roden"]}"' in page
    assert '<track kind="subtitles" srclang="nl"' in page
    assert "Vertelpaal Roden" in page and "Nederlands" in page and "Bezoekers" in page
    assert "2026-03-01 11:01" in page  # Dutch time (UTC+1 in March)
    # The visit's other answer, with its pictogram and label.
    assert f'href="/responses/{world.answers["r_scale"]}"' in page and "Blij" in page
    assert "klacht" in page

    voice = client.get(f"/responses/{world.answers['r_voice']}").get_data(as_text=True)
    assert "<audio" in voice and "<video id" not in voice

    tap = client.get(f"/responses/{world.answers['r_course']}").get_data(as_text=True)
    assert "Niet blij" in tap and "<audio" not in tap


def test_next_and_previous_stay_within_the_filter(app: Flask, client: FlaskClient, world: World) -> None:
    assert login(client, ADMIN) == 302

    def steps(name: str, query: str) -> tuple[str | None, str | None]:
        page = client.get(f"/responses/{world.answers[name]}{query}").get_data(as_text=True)
        found = []
        for shortcut in ("previous", "next"):
            match = re.search(rf'data-shortcut="{shortcut}" href="/responses/([0-9a-f-]{{36}})', page)
            found.append(names(world, [match.group(1)])[0] if match else None)
        return found[0], found[1]

    assert steps("b_scale", "") == ("b_video", "r_course")
    assert steps("b_scale", "?status=new") == ("b_video", "r_video")
    assert steps("r_video", "?kind=video") == ("b_video", None)
    assert steps("r_voice", "?kind=video") == (None, "b_video")  # itself outside the filter: still placed
    page = client.get(f"/responses/{world.answers['b_scale']}?status=new").get_data(as_text=True)
    assert "status=new" in re.search(r'data-shortcut="next" href="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def test_tags_notes_and_status_change_in_place_and_are_audited(
    app: Flask, client: FlaskClient, world: World
) -> None:
    answer = world.answers["r_video"]
    assert login(client, STAFF_RODEN) == 302
    page = client.get(f"/responses/{answer}?status=new")
    token = csrf_token(client, f"/responses/{answer}")

    tagged = client.post(
        f"/responses/{answer}/tags?status=new", data={"tag": "computers", "csrf_token": token}, headers=HX
    )
    html = tagged.get_data(as_text=True)
    assert tagged.status_code == 200 and html.startswith('<div id="tags"') and "computers" in html
    assert "<html" not in html
    again = client.post(
        f"/responses/{answer}/tags", data={"tag": "computers", "csrf_token": token}, headers=HX
    )
    assert again.get_data(as_text=True).count(">computers") == 1
    unknown = client.post(
        f"/responses/{answer}/tags", data={"tag": "onbekend", "csrf_token": token}, headers=HX
    )
    assert 'role="alert"' in unknown.get_data(as_text=True) and "onbekend" in unknown.get_data(as_text=True)

    removed = client.post(
        f"/responses/{answer}/tags/{world.tags['klacht']}/remove", data={"csrf_token": token}, headers=HX
    )
    assert ">klacht" not in removed.get_data(as_text=True)

    noted = client.post(
        f"/responses/{answer}/notes", data={"body": "Bellen over de wifi", "csrf_token": token}, headers=HX
    )
    assert "Bellen over de wifi" in noted.get_data(as_text=True) and STAFF_RODEN in noted.get_data(
        as_text=True
    )
    empty = client.post(f"/responses/{answer}/notes", data={"body": "   ", "csrf_token": token}, headers=HX)
    assert 'role="alert"' in empty.get_data(as_text=True)

    status = client.post(
        f"/responses/{answer}/status", data={"status": "reviewed", "csrf_token": token}, headers=HX
    )
    assert status.get_data(as_text=True).startswith('<div id="review"') and "bekeken" in status.get_data(
        as_text=True
    )
    bad = client.post(f"/responses/{answer}/status", data={"status": "gone", "csrf_token": token}, headers=HX)
    assert 'role="alert"' in bad.get_data(as_text=True)

    # Without htmx the same forms post and come back to the page, with the filter.
    plain = client.post(
        f"/responses/{answer}/status?status=new", data={"status": "flagged", "csrf_token": token}
    )
    assert plain.status_code == 302 and plain.headers["Location"] == f"/responses/{answer}?status=new"
    # Without the CSRF token nothing happens.
    assert client.post(f"/responses/{answer}/status", data={"status": "new"}).status_code == 400

    download = fetch(client, f"/responses/{answer}/download")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]

    with app.app_context():
        stored = db.session.get(Answer, answer)
        assert stored is not None
        assert stored.review_status is ReviewStatus.FLAGGED
        assert [t.name for t in stored.tags] == ["computers"]
        assert [(n.body, n.author.email if n.author else None) for n in stored.notes] == [
            ("Bellen over de wifi", STAFF_RODEN)
        ]
    assert page.status_code == 200
    target = f"answer:{answer}"
    assert audit_actions(app) == [
        (STAFF_RODEN, "answer.watch", target),
        (STAFF_RODEN, "answer.watch", target),  # the page was opened twice (once for its token)
        (STAFF_RODEN, "answer.tag", target),
        (STAFF_RODEN, "answer.untag", target),
        (STAFF_RODEN, "answer.note", target),
        (STAFF_RODEN, "answer.status", target),
        (STAFF_RODEN, "answer.status", target),
        (STAFF_RODEN, "answer.download", target),
    ]


def test_viewers_look_but_change_nothing(app: Flask, client: FlaskClient, world: World) -> None:
    assert login(client, VIEWER_RODEN) == 302
    answer = world.answers["r_video"]
    page = client.get(f"/responses/{answer}").get_data(as_text=True)
    assert "<video" in page
    assert 'id="tag-input"' not in page and 'name="status"' not in page and 'id="note-body"' not in page
    inbox = client.get("/responses").get_data(as_text=True)
    assert 'id="bulk"' not in inbox and 'name="answer"' not in inbox
    token = csrf_token(client, "/")
    for path, data in (
        (f"/responses/{answer}/status", {"status": "reviewed"}),
        (f"/responses/{answer}/tags", {"tag": "computers"}),
        (f"/responses/{answer}/tags/{world.tags['klacht']}/remove", {}),
        (f"/responses/{answer}/notes", {"body": "x"}),
        ("/responses/bulk", {"action": "status:reviewed", "scope": "filter"}),
    ):
        assert client.post(path, data={**data, "csrf_token": token}).status_code == 404, path
    assert client.get("/tags").status_code == 404
    with app.app_context():
        stored = db.session.get(Answer, answer)
        assert stored is not None and stored.review_status is ReviewStatus.NEW and len(stored.tags) == 1


# --- bulk --------------------------------------------------------------------------------------


def test_bulk_status_and_tags_on_ticked_answers_and_on_the_whole_filter(
    app: Flask, client: FlaskClient, world: World
) -> None:
    assert login(client, STAFF_RODEN) == 302
    token = csrf_token(client, "/responses")
    a = world.answers

    # Ticked answers; a ticked answer of another branch is ignored.
    response = client.post(
        "/responses/bulk?status=new",
        data={
            "csrf_token": token,
            "action": "status:reviewed",
            "scope": "selected",
            "answer": [a["r_scale"], a["r_video"], a["b_scale"]],
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == "/responses?status=new"
    assert "2 antwoorden zijn nu bekeken." in client.get("/responses").get_data(as_text=True)

    # Every answer that matches the filter, on all pages.
    response = client.post(
        f"/responses/bulk?kind=tap&branch={world.branches['Roden']}",
        data={"csrf_token": token, "action": f"tag:{world.tags['compliment']}", "scope": "filter"},
    )
    assert response.status_code == 302
    # Removing a tag in bulk, and nothing ticked is a message, not a change.
    client.post(
        "/responses/bulk",
        data={"csrf_token": token, "action": f"untag:{world.tags['klacht']}", "scope": "filter"},
    )
    nothing = client.post(
        "/responses/bulk", data={"csrf_token": token, "action": "status:flagged", "scope": "selected"}
    )
    assert nothing.status_code == 302

    with app.app_context():
        status = {u: s for u, s in db.session.execute(select(Answer.uuid, Answer.review_status))}
        tags = {(t.answer_uuid, t.tag_id) for t in db.session.scalars(select(AnswerTag))}
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("answers.%")).order_by(AuditEvent.id)
        ).all()
    assert status[a["r_scale"]] is ReviewStatus.REVIEWED and status[a["r_video"]] is ReviewStatus.REVIEWED
    assert status[a["b_scale"]] is ReviewStatus.NEW
    compliment, klacht = world.tags["compliment"], world.tags["klacht"]
    assert {u for u, t in tags if t == compliment} == {a["r_scale"], a["r_course"], a["r_voice"]}
    assert {u for u, t in tags if t == klacht} == {a["b_video"]}  # Borger's stays
    assert [(e.action, e.details["changed"]) for e in events] == [
        ("answers.status", 2),
        ("answers.tag", 2),
        ("answers.untag", 1),
    ]


# --- exports -----------------------------------------------------------------------------------


def test_csv_and_xlsx_hold_the_filtered_answers(app: Flask, client: FlaskClient, world: World) -> None:
    assert login(client, STAFF_RODEN) == 302
    answer = world.answers["r_video"]
    token = csrf_token(client, "/responses")
    client.post(f"/responses/{answer}/notes", data={"body": "Over de wifi", "csrf_token": token})
    client.post(f"/responses/{answer}/notes", data={"body": "Tweede\nregel", "csrf_token": token})
    with app.app_context():  # a tag that looks like a formula must stay text in a spreadsheet
        db.session.add(AnswerTag(answer_uuid=world.answers["r_voice"], tag_id=world.tags["computers"]))
        db.session.get(Tag, world.tags["computers"]).name = '=HYPERLINK("x")'  # type: ignore[union-attr]
        db.session.commit()

    response = fetch(client, "/responses/export.csv?kind=recording")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="vertelpaal-antwoorden-')
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [r["Antwoord"] for r in rows] == [world.answers["r_voice"], answer]
    video = rows[1]
    assert video == {
        "Antwoord": answer,
        "Tijd": "2026-03-01T11:01:00+01:00",
        "Vestiging": "Roden",
        "Kiosk": "Vertelpaal Roden",
        "Vragenlijst": "Bezoekers",
        "Versie": "1",
        "Vraag": "Wat kan beter?",
        "Soort": "video",
        "Waarde": "",
        "Label": "",
        "Taal": "nl",
        "Locatie": "",
        "Activiteit": "",
        "Lid?": "Niet gevraagd",
        "Tags": "klacht",
        "Notities": video["Notities"],
        "Status": "nieuw",
        "Link": f"http://localhost/responses/{answer}",
    }
    # Both notes, oldest first, with their author and time.
    assert re.fullmatch(
        rf"{STAFF_RODEN} \(\d{{4}}-\d\d-\d\d \d\d:\d\d\): Over de wifi\n"
        rf"{STAFF_RODEN} \(\d{{4}}-\d\d-\d\d \d\d:\d\d\): Tweede\nregel",
        video["Notities"],
    )
    assert rows[0]["Tags"] == '\'=HYPERLINK("x"), compliment'

    taps = list(
        csv.DictReader(
            io.StringIO(
                fetch(client, "/responses/export.csv?kind=tap").get_data(as_text=True).lstrip("\ufeff")
            )
        )
    )
    assert [(r["Waarde"], r["Label"], r["Taal"]) for r in taps] == [
        ("1", "Niet blij", "en"),
        ("3", "Blij", "nl"),
    ]

    book = openpyxl.load_workbook(io.BytesIO(fetch(client, "/responses/export.xlsx?kind=recording").data))
    sheet = book.active
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == list(rows[0].keys())
    assert [v[0] for v in values[1:]] == [r["Antwoord"] for r in rows]
    assert values[2][1] == datetime(2026, 3, 1, 11, 1)  # a real date cell, in Dutch time
    assert values[2][5] == 1
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)  # no formulas
    assert [str(c) if c is not None else "" for c in values[2][2:5]] == [
        "Roden",
        "Vertelpaal Roden",
        "Bezoekers",
    ]

    with app.app_context():
        exports = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "answers.export")).all()
    assert [(e.actor, e.details) for e in exports] == [
        (STAFF_RODEN, {"format": "csv", "filter": {"kind": "recording"}}),
        (STAFF_RODEN, {"format": "csv", "filter": {"kind": "tap"}}),
        (STAFF_RODEN, {"format": "xlsx", "filter": {"kind": "recording"}}),
    ]


def test_a_big_export_streams_in_batches(app: Flask, client: FlaskClient, world: World) -> None:
    add_many(app, world, "Borger", 1203, datetime(2026, 5, 1, 8, 0, tzinfo=UTC))
    assert login(client, STAFF_BORGER) == 302
    response = fetch(client, "/responses/export.csv")
    chunks = list(response.response)  # type: ignore[arg-type]
    assert len(chunks) == 1 + 1205  # the header, then a chunk per answer
    rows = list(
        csv.reader(
            io.StringIO(
                b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks).decode().lstrip("\ufeff")
            )
        )
    )
    assert len(rows) == 1206 and len({r[0] for r in rows[1:]}) == 1205
    book = openpyxl.load_workbook(io.BytesIO(fetch(client, "/responses/export.xlsx").data), read_only=True)
    assert sum(1 for _ in book.active.iter_rows(values_only=True)) == 1206


# --- the tag list ------------------------------------------------------------------------------


def test_admins_keep_the_tag_list(app: Flask, client: FlaskClient, world: World) -> None:
    assert login(client, STAFF_RODEN) == 302
    assert client.get("/tags").status_code == 404
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})

    assert login(client, ADMIN) == 302
    token = csrf_token(client, "/tags")
    assert (
        client.post("/tags", data={"name": "wifi", "colour": "#8250DF", "csrf_token": token}).status_code
        == 302
    )
    duplicate = client.post("/tags", data={"name": "wifi", "colour": "#000000", "csrf_token": token})
    assert duplicate.status_code == 200 and "Er is al een tag wifi." in duplicate.get_data(as_text=True)
    bad_colour = client.post("/tags", data={"name": "rood", "colour": "red", "csrf_token": token})
    assert "#1a7f37" in bad_colour.get_data(as_text=True)
    with app.app_context():
        wifi = db.session.scalar(select(Tag).where(Tag.name == "wifi"))
        assert wifi is not None and wifi.colour == "#8250df"
        wifi_id = wifi.id
    page = client.get("/tags").get_data(as_text=True)
    assert 'fill="#8250df"' in page

    klacht = world.tags["klacht"]
    client.post(f"/tags/{klacht}", data={"name": "klachten", "colour": "#b00020", "csrf_token": token})
    assert (
        client.post(
            f"/tags/{wifi_id}", data={"name": "klachten", "colour": "#b00020", "csrf_token": token}
        ).status_code
        == 302
    )
    deleted = client.post(f"/tags/{klacht}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "Tag klachten verwijderd; hij stond op 2 antwoorden." in deleted.get_data(as_text=True)
    with app.app_context():
        assert {t.name for t in db.session.scalars(select(Tag))} == {"compliment", "computers", "wifi"}
        assert db.session.scalar(select(AnswerTag).where(AnswerTag.tag_id == klacht)) is None
        actions = [
            e.action
            for e in db.session.scalars(
                select(AuditEvent).where(AuditEvent.action.like("tag.%")).order_by(AuditEvent.id)
            )
        ]
    assert actions == ["tag.create", "tag.update", "tag.delete"]
