"""Privacy promises on the admin server: erasure on request, retention per kind, the parent-or-carer
step's settings, consent rules at ingest, and an audit log nobody can rewrite."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import av
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError

from admin import audit
from admin.extensions import db
from admin.kiosk_api.configuration import build as build_config
from admin.kiosk_api.ingest import store_session
from admin.mediafiles.operations import ensure_poster
from admin.models import (
    Answer,
    AnswerTag,
    AuditEvent,
    ErasedSession,
    Kiosk,
    Media,
    Note,
    PrivacySettings,
    Session,
    User,
)
from admin.storage import media_store
from tests.admin.helpers import csrf_token, login
from tests.admin.review_world import ADMIN, STAFF_BORGER, STAFF_RODEN, VIEWER_RODEN, World


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


# --- erasure on request ---------------------------------------------------------------------------


def test_staff_find_a_visitor_s_session_by_branch_and_time_and_erase_all_of_it(
    app: Flask, client: FlaskClient, world: World
) -> None:
    roden_session_answers = {world.answers["r_scale"], world.answers["r_video"]}
    with app.app_context():
        video = db.session.get(Media, world.media["video_roden"])
        poster = ensure_poster(video)  # staff watched it: it has a poster frame now
        assert poster is not None
        answer = db.session.get(Answer, world.answers["r_video"])
        db.session.add(Note(answer_uuid=answer.uuid, body="Bezoeker noemde haar naam: Anna"))
        db.session.commit()
        session_uuid = answer.session_uuid
        doomed_files = [video.sha256, poster.sha256]
        kept_files = [world.media["video_borger"], world.media["voice_roden"]]
        answers_before = count(Answer)

    login(client, STAFF_RODEN)
    # "I answered on 1 March around eleven, in Roden": 10:59 Dutch time is 09:59 UTC.
    query = f"/privacy/erase?branch={world.branches['Roden']}&day=2026-03-01&start=10:30&end=11:30&kiosk="
    page = client.get(query).get_data(as_text=True)
    assert page.count(f"/privacy/erase/{session_uuid}") == 1
    assert "1 sessie in deze periode" in page
    assert "Borger" not in page.split("<table")[1]
    # Another hour finds nothing.
    empty = client.get(query.replace("start=10:30&end=11:30", "start=12:00&end=13:00")).get_data(as_text=True)
    assert "0 sessies in deze periode" in empty

    confirm_page = f"/privacy/erase/{session_uuid}"
    token = csrf_token(client, confirm_page)
    not_confirmed = client.post(confirm_page, data={"csrf_token": token})
    assert not_confirmed.status_code == 200  # the form again: the box was not ticked
    with app.app_context():
        assert db.session.get(Session, session_uuid) is not None

    done = client.post(confirm_page, data={"csrf_token": token, "confirm": "y"})
    assert done.status_code == 302

    with app.app_context():
        assert db.session.get(Session, session_uuid) is None
        assert (
            db.session.scalars(select(Answer.uuid).where(Answer.uuid.in_(roden_session_answers))).all() == []
        )
        assert count(Answer) == answers_before - 2
        assert db.session.scalar(select(func.count()).select_from(Note)) == 0
        tagged = select(AnswerTag).where(AnswerTag.answer_uuid.in_(roden_session_answers))
        assert db.session.scalars(tagged).all() == []
        assert db.session.scalars(select(Media).where(Media.sha256.in_(doomed_files))).all() == []
        store = media_store()
        assert not any(store.exists(sha) for sha in doomed_files)
        assert all(store.exists(sha) for sha in kept_files)
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "session.erase"))
        assert event is not None and event.target == f"session:{session_uuid}" and event.actor == STAFF_RODEN
        # The fact, not the content: no answer value, note or file name in the log.
        assert event.details == {
            "branch": "Roden",
            "kiosk": "Vertelpaal Roden",
            "answers": 2,
            "recordings": 1,
        }
        assert "Anna" not in str(event.details)
        assert db.session.get(ErasedSession, session_uuid) is not None

        # The kiosk never heard the confirmation and sends the session again: acknowledged, not stored.
        kiosk = db.session.get(Kiosk, world.kiosks["Roden"])
        outcome = store_session(kiosk, session_uuid, {"anything": "at all"})
        assert outcome.status == 200
        db.session.commit()
        assert db.session.get(Session, session_uuid) is None


def test_erasure_is_for_the_branch_s_own_staff_only(app: Flask, client: FlaskClient, world: World) -> None:
    with app.app_context():
        session_uuid = db.session.get(Answer, world.answers["r_video"]).session_uuid
    for email in (STAFF_BORGER, VIEWER_RODEN):
        login(client, email)
        assert client.get(f"/privacy/erase/{session_uuid}").status_code == 404, email
        client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, STAFF_BORGER)
    # Searching another branch shows nothing of it.
    found = client.get(
        f"/privacy/erase?branch={world.branches['Roden']}&day=2026-03-01&start=00:00&end=23:59"
    )
    # Roden is not one of Borger's choices: the form says so and lists no session at all.
    assert found.status_code == 200
    assert 'class="error"' in found.get_data(as_text=True)
    assert '<table class="sessions">' not in found.get_data(as_text=True)
    assert session_uuid not in found.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Session, session_uuid) is not None


# --- retention per kind -------------------------------------------------------------------------------


def save_rules(client: FlaskClient, video: str, voice: str, taps: str) -> None:
    token = csrf_token(client, "/privacy/settings")
    response = client.post(
        "/privacy/settings",
        data={"csrf_token": token, "video_days": video, "voice_days": voice, "tap_days": taps},
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def test_retention_follows_the_rules_per_kind_and_removes_exactly_the_expired_files(
    app: Flask, client: FlaskClient, world: World
) -> None:
    with app.app_context():
        poster_shas = {
            ensure_poster(db.session.get(Media, world.media[n])).sha256  # type: ignore[union-attr]
            for n in ("video_roden", "video_borger")
        }
        db.session.commit()
        everything = set(db.session.scalars(select(Media.sha256)))
        answers_before, sessions_before = count(Answer), count(Session)
    login(client, ADMIN)
    # The world's answers are from March 2026: videos past 30 days go, voice and taps are kept.
    save_rules(client, video="30", voice="", taps="")
    result = app.test_cli_runner().invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "Rules: video 30 days, voice kept, taps kept." in result.output
    assert "Removed 2 recordings (3 files), 0 tap answers, 0 empty sessions" in result.output

    with app.app_context():
        store = media_store()
        # Both recordings start with the same frame, so they share one poster: three files.
        gone = {world.media["video_roden"], world.media["video_borger"], *poster_shas}
        assert len(gone) == 3
        assert not any(store.exists(sha) for sha in gone)
        # Exactly those: every other file and row (questions, pictograms, the voice answer) stays.
        assert set(db.session.scalars(select(Media.sha256))) == everything - gone
        assert all(store.exists(sha) for sha in everything - gone)
        assert count(Answer) == answers_before and count(Session) == sessions_before
        assert db.session.get(Answer, world.answers["r_voice"]).media_sha256 == world.media["voice_roden"]
        assert db.session.get(Answer, world.answers["r_video"]).media_sha256 is None

    # Now tap answers older than 200 days go too, with their tags; the course session had only a tap.
    save_rules(client, video="30", voice="", taps="200")
    with app.app_context():
        tagged_tap = world.answers["r_scale"]
        db.session.add(AnswerTag(answer_uuid=tagged_tap, tag_id=world.tags["compliment"]))
        db.session.add(Note(answer_uuid=tagged_tap, body="tevreden"))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["retention", "run"])
    assert "Removed 0 recordings (0 files), 3 tap answers, 1 empty sessions" in result.output, result.output
    with app.app_context():
        assert count(Answer) == answers_before - 3
        assert db.session.get(Answer, tagged_tap) is None
        assert db.session.scalars(select(AnswerTag).where(AnswerTag.answer_uuid == tagged_tap)).all() == []
        assert count(Note) == 0
        assert count(Session) == sessions_before - 1
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "retention.purge").order_by(AuditEvent.id)
        ).all()
        assert [e.details["recordings"] for e in events] == [2, 0]
        assert [e.details["taps"] for e in events] == [0, 3]


def test_a_file_left_behind_by_a_crash_is_swept_and_young_files_are_not(app: Flask, tmp_path: Path) -> None:
    with app.app_context():
        store = media_store()
        stray = tmp_path / "stray.bin"
        stray.write_bytes(b"a recording whose row was deleted before the file")
        old_sha, _ = store.put_file(stray)
        stray.write_bytes(b"a file whose row is being committed right now")
        young_sha, _ = store.put_file(stray)
        an_hour_and_more = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
        os.utime(store.path(old_sha), (an_hour_and_more, an_hour_and_more))
    result = app.test_cli_runner().invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "1 files no record named" in result.output
    with app.app_context():
        assert not media_store().exists(old_sha)
        assert media_store().exists(young_sha)


def test_retention_days_must_be_whole_days_from_1(app: Flask, client: FlaskClient, world: World) -> None:
    login(client, ADMIN)
    token = csrf_token(client, "/privacy/settings")
    for bad in ("0", "-5", "abc", "99999"):
        response = client.post("/privacy/settings", data={"csrf_token": token, "video_days": bad})
        assert response.status_code == 200, bad
        assert 'class="error"' in response.get_data(as_text=True), bad
    with app.app_context():
        assert db.session.get(PrivacySettings, 1) is None


# --- the parent-or-carer step ----------------------------------------------------------------------


def test_admins_switch_on_the_parent_step_and_kiosks_get_its_words_and_speech(
    app: Flask, client: FlaskClient, world: World
) -> None:
    login(client, STAFF_RODEN)
    assert client.get("/privacy/settings").status_code == 404
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, ADMIN)
    token = csrf_token(client, "/privacy/settings")
    # On without Dutch words: refused, nothing saved.
    refused = client.post(
        "/privacy/settings", data={"csrf_token": token, "parent_step": "y", "parent_text_nl": " "}
    )
    assert "De kiosk heeft de vraag in het Nederlands nodig" in refused.get_data(as_text=True)
    words = "Is je vader, moeder of verzorger bij je en vindt die het goed?"
    saved = client.post(
        "/privacy/settings",
        data={
            "csrf_token": token,
            "video_days": "90",
            "parent_step": "y",
            "parent_text_nl": words,
            "parent_text_en": "Is a parent or carer with you, and do they agree?",
        },
    )
    assert saved.status_code == 302
    with app.app_context():
        settings = db.session.get(PrivacySettings, 1)
        assert settings is not None and settings.parent_step and settings.video_days == 90
        assert settings.parent_texts["nl"] == words
        spoken = db.session.get(Media, settings.parent_audio["nl"])
        assert spoken is not None and spoken.content_type == "audio/mp4"
        with av.open(str(media_store().path(spoken.sha256))) as container:
            # espeak-ng reads ~12 words at 145 per minute: a few seconds of sound.
            assert container.streams.audio and container.duration / av.time_base > 2
        kiosk = db.session.get(Kiosk, world.kiosks["Roden"])
        document = build_config(kiosk, datetime.now(UTC).date())
        assert document["parent_step"]["texts"]["nl"] == words
        assert document["parent_step"]["audio"]["nl"] == spoken.sha256
        assert spoken.sha256 in {m["sha256"] for m in document["media"]}
        nl_audio = spoken.sha256

    # The same words again: the same speech, not a new file.
    page = client.get("/privacy/settings").get_data(as_text=True)
    assert words in page and f"/media/{nl_audio}" in page
    client.post(
        "/privacy/settings",
        data={"csrf_token": token, "video_days": "90", "parent_step": "", "parent_text_nl": words},
    )
    with app.app_context():
        settings = db.session.get(PrivacySettings, 1)
        assert settings.parent_audio == {"nl": nl_audio} and not settings.parent_step
        document = build_config(db.session.get(Kiosk, world.kiosks["Roden"]), datetime.now(UTC).date())
        assert document["parent_step"] is None
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "privacy.settings")).all()
        assert len(event) == 2 and event[0].actor == ADMIN


# --- consent at ingest ----------------------------------------------------------------------------------


def test_the_consent_record_is_kept_and_a_parent_s_no_allows_no_recording(
    app: Flask, client: FlaskClient, world: World
) -> None:
    with app.app_context():
        kiosk = db.session.get(Kiosk, world.kiosks["Roden"])
        body = {
            "questionnaire_version_id": world.versions["visit"],
            "language": "en",
            "consent": True,
            "consent_version": "2026-1",
            "parent_consent": False,
            "started_at": "2026-11-20T10:00:00+00:00",
            "answers": [
                {
                    "uuid": "8b0f1a52-3a1e-4f4a-9a56-0f5d1c2b3a4d",
                    "question_id": world.questions["open"],
                    "kind": "video",
                    "value": None,
                    "media_sha256": world.media["video_roden"],
                    "answered_at": "2026-11-20T10:01:00+00:00",
                }
            ],
        }
        from admin.kiosk_api.ingest import Invalid

        with pytest.raises(Invalid, match="parent or carer did not agree"):
            store_session(kiosk, "4b0f1a52-3a1e-4f4a-9a56-0f5d1c2b3a4d", body)
        with pytest.raises(Invalid, match="parent_consent must be"):
            store_session(kiosk, "4b0f1a52-3a1e-4f4a-9a56-0f5d1c2b3a4d", {**body, "parent_consent": "yes"})
        db.session.rollback()
        taps_only = {
            **body,
            "answers": [
                {
                    "uuid": "9b0f1a52-3a1e-4f4a-9a56-0f5d1c2b3a4d",
                    "question_id": world.questions["scale"],
                    "kind": "scale",
                    "value": "3",
                    "answered_at": "2026-11-20T10:01:00+00:00",
                }
            ],
        }
        assert store_session(kiosk, "5b0f1a52-3a1e-4f4a-9a56-0f5d1c2b3a4d", taps_only).status == 201
        db.session.commit()
        stored = db.session.get(Session, "5b0f1a52-3a1e-4f4a-9a56-0f5d1c2b3a4d")
        assert (stored.consent, stored.consent_version, stored.language, stored.parent_consent) == (
            True,
            "2026-1",
            "en",
            False,
        )
        answer_uuid = stored.answers[0].uuid
        db.session.execute(update(User).where(User.email == STAFF_RODEN).values(locale="en"))
        db.session.commit()
    login(client, STAFF_RODEN)
    page = client.get(f"/responses/{answer_uuid}").get_data(as_text=True)
    assert "consent text 2026-1, in English" in page
    assert re.search(r"Parent or carer agreed</dt><dd>no</dd>", page)


# --- the audit log ------------------------------------------------------------------------------------


def test_the_audit_log_cannot_be_changed_or_emptied_only_added_to(app: Flask, world: World) -> None:
    with app.app_context():
        audit.record("answer.watch", "answer:x", media="abc")
        db.session.commit()
        event_id = db.session.scalar(select(func.max(AuditEvent.id)))
        attempts = [
            update(AuditEvent).where(AuditEvent.id == event_id).values(action="nothing.happened"),
            update(AuditEvent).where(AuditEvent.id == event_id).values(details={}),
            delete(AuditEvent).where(AuditEvent.id == event_id),
            delete(AuditEvent),
        ]
        if db.engine.dialect.name == "postgresql":
            attempts.append(text("TRUNCATE audit_events"))
        for statement in attempts:
            with pytest.raises(DBAPIError, match="append-only"):
                db.session.execute(statement)
            db.session.rollback()
        assert db.session.get(AuditEvent, event_id).action == "answer.watch"
        # The one change allowed: an account's deletion forgets its id; the name stays.
        db.session.execute(update(AuditEvent).values(user_id=None))
        db.session.commit()


def test_admins_read_who_did_what_and_staff_cannot(app: Flask, client: FlaskClient, world: World) -> None:
    login(client, STAFF_RODEN)
    client.get(f"/responses/{world.answers['r_video']}")  # watching is recorded
    assert client.get("/privacy/audit").status_code == 404
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, ADMIN)
    page = client.get("/privacy/audit?action=answer.").get_data(as_text=True)
    row = re.search(r"<tr>\s*<td><time[^<]*</time></td>\s*<td>([^<]+)</td>\s*<td><code>([^<]+)</code>", page)
    assert row and row.groups() == (STAFF_RODEN, "answer.watch")
    assert f"answer:{world.answers['r_video']}" in page
    assert "login" not in re.findall(r"<code>([^<]+)</code>", page)  # the filter holds
    # A page holds 100; the next page starts before the last one shown.
    with app.app_context():
        for number in range(120):
            audit.record("answer.tag", f"answer:{number}", tag="klacht")
        db.session.commit()
    first = client.get("/privacy/audit?action=answer.tag").get_data(as_text=True)
    older = re.search(r'href="(/privacy/audit\?[^"]*before=\d+[^"]*)"', first)
    assert first.count("<code>answer.tag</code>") == 100 and older
    second = client.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert second.count("<code>answer.tag</code>") == 20
