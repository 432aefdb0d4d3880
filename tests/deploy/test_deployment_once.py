"""The deployment fixture's sharing between pytest-xdist workers (built_once), with a stand-in build:
the real one takes minutes, and the deploy tests themselves use it."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from tests.deploy.conftest import Deployment, Run, built_once

RECAP_LINE = "kiosk-roden                : ok=3   changed=1    unreachable=0    failed=0    skipped=0"


def stand_in(folder: Path) -> Deployment:
    """Records that it ran, slowly enough that a second process asks while it builds."""
    with folder.parent.joinpath("builds").open("a") as builds:
        builds.write("built\n")
    time.sleep(1)
    folder.mkdir()
    return Deployment(
        base=folder,
        roots={"kiosk-roden": folder / "roots" / "kiosk-roden"},
        hosts={"kiosk-roden": {"kiosk_languages": ["nl", "en"]}},
        runs={"first": Run("first", {"kiosks": f"PLAY RECAP ***\n{RECAP_LINE}\n"})},
        seen={"outboxes": {"kiosk-roden": {"outbox.sqlite3": "ab12 100600"}}},
    )


def ask(folder: Path, answer: Path) -> None:
    answer.write_text(built_once(folder, stand_in).to_json())


def test_two_workers_asking_at_once_build_it_once_and_read_the_same(tmp_path: Path) -> None:
    fork = multiprocessing.get_context("fork")  # the children use this test's imported modules
    workers = [fork.Process(target=ask, args=(tmp_path / "deployment", tmp_path / f"gw{n}")) for n in (0, 1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert (tmp_path / "builds").read_text() == "built\n"
    assert (tmp_path / "gw0").read_text() == (tmp_path / "gw1").read_text()
    # What a test reads comes back as it was recorded.
    facts = Deployment.from_json((tmp_path / "gw0").read_text())
    assert facts.root("kiosk-roden") == tmp_path / "deployment" / "roots" / "kiosk-roden"
    assert facts.runs["first"].recap["kiosk-roden"]["changed"] == 1
    assert facts.seen == stand_in(tmp_path / "again").seen
    assert facts.env["ANSIBLE_HOME"] == str(tmp_path / "deployment" / "ansible-home")


def test_a_failed_build_fails_the_next_asker_at_once_with_its_reason(tmp_path: Path) -> None:
    calls = []

    def failing(folder: Path) -> Deployment:
        calls.append(folder)
        raise AssertionError("first (kiosks) failed: the wheel is missing")

    with pytest.raises(AssertionError, match="wheel is missing"):
        built_once(tmp_path / "deployment", failing)
    with pytest.raises(
        pytest.fail.Exception, match=r"failed in another worker:\nAssertionError: .* wheel is"
    ):
        built_once(tmp_path / "deployment", failing)
    assert len(calls) == 1
