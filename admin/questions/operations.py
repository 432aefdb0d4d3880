from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _

from admin import audit
from admin.extensions import db
from admin.models import (
    AnswerOption,
    Media,
    OptionTranslation,
    Question,
    QuestionKind,
    QuestionPrompt,
)


class QuestionError(ValueError):
    pass


@dataclass(frozen=True)
class OptionInput:
    value: str
    label: str
    pictogram: Media
    # language → (label, spoken label or None), for languages beyond the staff label's
    translations: dict[str, tuple[str, Media | None]] = field(default_factory=dict)


def check_options(kind: QuestionKind, values: list[str]) -> None:
    """Raises ``QuestionError`` unless ``values`` fit a question of ``kind``."""
    if kind is QuestionKind.SCALE and len(values) not in (3, 5):
        raise QuestionError(_("A scale has 3 or 5 faces; you gave %(n)d.", n=len(values)))
    if kind is QuestionKind.CHOICE and not 2 <= len(values) <= 8:
        raise QuestionError(_("A choice has 2 to 8 cards; you gave %(n)d.", n=len(values)))
    if not kind.has_options and values:
        raise QuestionError(_("Video, voice and open questions have no answer options."))
    if len(set(values)) != len(values):
        raise QuestionError(_("Every answer option needs its own value."))


def create_question(
    name: str,
    kind: QuestionKind,
    language: str,
    text: str,
    video: Media,
    subtitles: Media,
    options: list[OptionInput],
) -> Question:
    check_options(kind, [option.value for option in options])
    question = Question(name=name.strip(), kind=kind)
    question.prompts.append(
        QuestionPrompt(
            language=language,
            text=text.strip(),
            video_sha256=video.sha256,
            subtitles_sha256=subtitles.sha256,
        )
    )
    for position, option in enumerate(options):
        question.options.append(
            AnswerOption(
                position=position,
                value=option.value,
                label=option.label,
                pictogram_sha256=option.pictogram.sha256,
                translations=[
                    OptionTranslation(
                        language=language, label=label, audio_sha256=audio.sha256 if audio else None
                    )
                    for language, (label, audio) in option.translations.items()
                ],
            )
        )
    db.session.add(question)
    db.session.flush()
    audit.record("question.create", f"question:{question.id}", name=question.name)
    return question


def set_prompt(question: Question, language: str, text: str, video: Media, subtitles: Media) -> None:
    """Add the question in a language, or replace the video of that language."""
    prompt = question.prompt_for(language)
    if prompt is None:
        prompt = QuestionPrompt(language=language)
        question.prompts.append(prompt)
    prompt.text, prompt.video_sha256, prompt.subtitles_sha256 = text.strip(), video.sha256, subtitles.sha256
    audit.record("question.prompt", f"question:{question.id}", language=language)
