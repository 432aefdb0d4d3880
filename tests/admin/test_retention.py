"""Retention removes exactly the expired recordings (files and posters) and keeps every figure."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import av
import pytest
from flask import Flask
from sqlalchemy import func, select

from admin.extensions import db
from admin.mediafiles import operations as media_ops
from admin.models import (
    Answer,
    AnswerKind,
    AuditEvent,
    Branch,
    Media,
    Question,
    QuestionKind,
    Questionnaire,
    Session,
    utcnow,
)
from admin.privacy.operations import save_settings
from admin.questionnaires.operations import QuestionnairePlan, create_questionnaire
from admin.questions.operations import create_question
from admin.retention import operations as retention_ops
from admin.storage import media_store
from tests.admin.helpers import MEDIA_SET

VIDEO = MEDIA_SET / "sample" / "answer-video.mp4"
VOICE = MEDIA_SET / "sample" / "answer-voice.m4a"


def recording(tmp: Path, source: Path, salt: int) -> Media:
    """A distinct recording: the sample with different metadata, so each has its own sha256."""
    target = tmp / f"rec-{salt}{source.suffix}"
    with av.open(str(source)) as src, av.open(str(target), "w", options={"movflags": "faststart"}) as out:
        out.metadata["comment"] = f"recording {salt}"
        streams = {s.index: out.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    expect = media_ops.Expect.RECORDED_VIDEO if source.suffix == ".mp4" else media_ops.Expect.RECORDED_VOICE
    return media_ops.store_path(target, expect)


class OpenQuestionWorld(NamedTuple):
    branch: Branch
    question: Question
    questionnaire: Questionnaire
    prompt_video: Media
    subtitles: Media


def open_question_world() -> OpenQuestionWorld:
    """A branch with a questionnaire of one open question (in an app context)."""
    branch = Branch(name="Roden")
    db.session.add(branch)
    prompt_video = media_ops.store_path(MEDIA_SET / "questions" / "improve.nl.mp4", media_ops.Expect.VIDEO)
    subtitles = media_ops.store_path(MEDIA_SET / "questions" / "improve.nl.vtt", media_ops.Expect.SUBTITLES)
    question = create_question("Wat kan beter", QuestionKind.OPEN, "nl", "", prompt_video, subtitles, [])
    plan = QuestionnairePlan("Bezoekers", None, None, None, [branch], [question])
    questionnaire = create_questionnaire(plan)
    return OpenQuestionWorld(branch, question, questionnaire, prompt_video, subtitles)


def recorded_answer(
    branch: Branch, question: Question, questionnaire: Questionnaire, media: Media, at: datetime
) -> str:
    """A visitor's session of one recorded answer given ``at``; its answer's uuid."""
    session = Session(
        uuid=str(uuid.uuid4()),
        branch=branch,
        questionnaire_version=questionnaire.current_version,
        language="nl",
        consent=True,
        started_at=at,
    )
    kind = AnswerKind.VIDEO if media.content_type == "video/mp4" else AnswerKind.VOICE
    answer = Answer(
        uuid=str(uuid.uuid4()),
        question=question,
        kind=kind,
        media_sha256=media.sha256,
        branch_id=branch.id,
        answered_at=at,
    )
    session.answers.append(answer)
    db.session.add(session)
    return answer.uuid


def test_retention_removes_expired_recordings_only(app: Flask, tmp_path: Path) -> None:
    now = utcnow()
    with app.app_context():
        branch, question, plan, prompt_video, subtitles = open_question_world()
        old_video, old_voice, young_video = (
            recording(tmp_path, VIDEO, 1),
            recording(tmp_path, VOICE, 2),
            recording(tmp_path, VIDEO, 3),
        )
        # An old recording with a poster made when staff watched it.
        assert media_ops.ensure_poster(old_video) is not None
        answers = {}
        for name, media, age in (
            ("old video", old_video, 40),
            ("old voice", old_voice, 31),
            ("young video", young_video, 29),
        ):
            answers[name] = recorded_answer(branch, question, plan, media, now - timedelta(days=age))
        db.session.commit()
        doomed = [old_video.sha256, old_video.poster_sha256, old_voice.sha256]
        kept = [young_video.sha256, prompt_video.sha256, prompt_video.poster_sha256, subtitles.sha256]

    result = app.test_cli_runner().invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    # No rules saved yet: recordings are kept RETENTION_RECORDING_DAYS (30), as the consent video says.
    assert "Rules: video 30 days, voice 30 days, taps kept." in result.output
    assert "Removed 2 recordings (3 files)" in result.output

    with app.app_context():
        store = media_store()
        assert not any(store.exists(sha) for sha in doomed)
        assert all(store.exists(sha) for sha in kept)
        assert db.session.scalar(select(func.count()).select_from(Media).where(Media.sha256.in_(doomed))) == 0
        # The answers stay (the figures do not change); only their recordings are gone.
        assert db.session.scalar(select(func.count()).select_from(Answer)) == 3
        assert db.session.get(Answer, answers["old video"]).media_sha256 is None
        assert db.session.get(Answer, answers["young video"]).media_sha256 == kept[0]
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "retention.purge"))
        assert event is not None and event.details["recordings"] == 2 and event.actor == "system"
        assert db.session.scalar(select(Question)) is not None

    with app.app_context():
        save_settings(video_days=28, voice_days=28, tap_days=None, parent_step=False, parent_texts={})
        db.session.commit()
    again = app.test_cli_runner().invoke(args=["retention", "run"])
    assert "Removed 1 recordings (1 files)" in again.output, again.output


def test_an_old_answer_synced_while_retention_runs_keeps_its_recording_until_the_next_run(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the answers retention selected lose their recording: one that arrives between its
    select and its update (a kiosk that was offline a month) would otherwise lose the link to
    a file that this run does not remove, and that file would stay on disk."""
    now = utcnow()
    with app.app_context():
        branch, question, plan, _, _ = open_question_world()
        recorded_answer(branch, question, plan, recording(tmp_path, VIDEO, 1), now - timedelta(days=40))
        late = recording(tmp_path, VIDEO, 2)
        db.session.commit()
        branch_id, question_id, questionnaire_id, late_sha = branch.id, question.id, plan.id, late.sha256

    late_answer: list[str] = []
    selecting = retention_ops.expired_recordings

    def then_a_kiosk_syncs(kind: AnswerKind, cutoff: datetime) -> list[Any]:
        selected = selecting(kind, cutoff)
        if kind is AnswerKind.VIDEO and not late_answer:
            late_answer.append(
                recorded_answer(
                    db.session.get(Branch, branch_id),
                    db.session.get(Question, question_id),
                    db.session.get(Questionnaire, questionnaire_id),
                    db.session.get(Media, late_sha),
                    now - timedelta(days=35),
                )
            )
            db.session.flush()
        return selected

    monkeypatch.setattr(retention_ops, "expired_recordings", then_a_kiosk_syncs)
    first = app.test_cli_runner().invoke(args=["retention", "run"])
    assert "Removed 1 recordings (1 files)" in first.output, first.output
    with app.app_context():
        assert db.session.get(Answer, late_answer[0]).media_sha256 == late_sha
        assert media_store().exists(late_sha)

    monkeypatch.setattr(retention_ops, "expired_recordings", selecting)
    second = app.test_cli_runner().invoke(args=["retention", "run"])
    assert "Removed 1 recordings (1 files)" in second.output, second.output
    with app.app_context():
        assert db.session.get(Answer, late_answer[0]).media_sha256 is None
        assert not media_store().exists(late_sha)
