"""The Dutch catalog covers every string of the pages, and the compiled file matches it."""

from __future__ import annotations

from pathlib import Path

from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ADMIN = Path(__file__).resolve().parents[2] / "admin"
CATALOG = ADMIN / "translations" / "nl" / "LC_MESSAGES"


def test_every_string_in_the_code_has_a_dutch_translation(tmp_path: Path) -> None:
    template = tmp_path / "messages.pot"
    CommandLineInterface().run(
        [
            "pybabel",
            "-q",
            "extract",
            "-F",
            str(ADMIN / "babel.cfg"),
            "-k",
            "_l",
            "-o",
            str(template),
            str(ADMIN),
        ]
    )
    with template.open("rb") as pot, (CATALOG / "messages.po").open("rb") as po:
        wanted = {m.id for m in read_po(pot) if m.id}
        dutch = {m.id: m for m in read_po(po) if m.id}
    missing = sorted(str(i) for i in wanted if i not in dutch or not dutch[i].string or dutch[i].fuzzy)
    assert missing == [], "run `make translations` and translate: " + "; ".join(missing)


def _translations(catalog) -> dict[object, object]:
    # gettext ignores fuzzy entries and the header; compare what a page would show, not the bytes a
    # given Babel release writes (their layout changed between releases).
    def key(value: object) -> object:
        return tuple(value) if isinstance(value, list | tuple) else value  # plural forms

    return {key(m.id): key(m.string) for m in catalog if m.id and m.string and not m.fuzzy}


def test_compiled_catalog_is_up_to_date() -> None:
    with (CATALOG / "messages.po").open("rb") as po, (CATALOG / "messages.mo").open("rb") as mo:
        source, compiled = _translations(read_po(po)), _translations(read_mo(mo))
    stale = sorted(str(i) for i in source.keys() | compiled.keys() if source.get(i) != compiled.get(i))
    assert source, "the Dutch catalog is empty"
    assert stale == [], "run `make translations`; differs: " + "; ".join(stale[:20])
