"""Staff review and dashboards on PostgreSQL with 1,000,000 answers over 40 branches and two years.

One branch is heavy, as a real central library: it has 15 % of all answers; the other 39 share the
rest (about 2.2 % each). Rows go in in time order, as kiosks send them.

Fills a throwaway PostgreSQL cluster with generated sessions and answers (INSERT ... SELECT over
generate_series, so filling takes minutes), then prints p50/p95 of what staff do, each through the
real Flask app (a test client signed in, two-step code included) beside the bare SQL it rests on:

- the inbox: the newest page, a deep page (keyset cursor 10,000 answers down), filtered pages
  (branch + new + recordings; a tag that only old answers carry);
- the branch dashboard (the default three months per week, and a year per month) of an average
  branch and of the heavy one and, for information, the dashboard across all 40 branches;
- whether PostgreSQL's JIT compiles the across-branches queries and the heavy branch's (EXPLAIN
  (ANALYZE) shows "JIT:"), what each query costs with and without it, and the pages with the
  server's ``jit`` on and off, in the same run;
- the answers export of one branch (CSV), in rows per second.

The bare SQL of an inbox page is its keyset query on the same filter (51 keys); of a dashboard, its
answers per week or month counted by PostgreSQL's own date_trunc in Europe/Amsterdam (the page runs
about fifteen such queries: per bucket, per option, per tag, totals, the period before).

Budgets (docs/budgets.md): inbox p95 <= 100 ms, branch dashboard <= 200 ms.
``VERTELPAAL_BENCH_ANSWERS=100000`` for a quick run. The machine is shared: figures are noisy.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.support, when run as a script

from flask import Flask  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import event, text  # noqa: E402

from admin import create_app  # noqa: E402
from admin.accounts.operations import create_user  # noqa: E402
from admin.extensions import db  # noqa: E402
from admin.mediafiles.operations import Expect, store_path  # noqa: E402
from admin.models import Branch, Kiosk, QuestionKind, Role, Tag  # noqa: E402
from admin.questionnaires.operations import QuestionnairePlan, create_questionnaire  # noqa: E402
from admin.questions.operations import OptionInput, create_question  # noqa: E402
from tests.admin.helpers import MEDIA_SET, PASSWORD, TOTP_SECRET, login  # noqa: E402
from tests.support.postgres import throwaway_cluster  # noqa: E402

ANSWERS = int(os.environ.get("VERTELPAAL_BENCH_ANSWERS", "1000000"))
ROUNDS = int(os.environ.get("VERTELPAAL_BENCH_ROUNDS", "40"))
BRANCHES = 40
HEAVY_PERCENT = 15  # of all sessions, in the first branch (the central library)
ANSWERS_PER_SESSION = 4
DAYS = 730
ADMIN = "coordinator@bench.example"
STAFF = "staff@bench.example"
INBOX_BUDGET_MS = 100
DASHBOARD_BUDGET_MS = 200


def timed(action: Callable[[], object], rounds: int = ROUNDS) -> tuple[float, float]:
    action()  # warm-up: the first run pays for caches, not for the query
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


# --- filling ---------------------------------------------------------------------------------


def make_world(app: Flask) -> dict[str, Any]:
    """Branches, kiosks, the questions and a questionnaire, tags, two accounts (through the ORM)."""
    with app.app_context():
        branches = [Branch(name="Centrale bibliotheek")]
        branches += [Branch(name=f"Vestiging {n:02d}") for n in range(2, BRANCHES + 1)]
        db.session.add_all(branches)
        db.session.flush()
        db.session.add_all(Kiosk(name=f"Vertelpaal {b.name}", branch=b) for b in branches)
        video = store_path(MEDIA_SET / "questions" / "satisfaction.nl.mp4", Expect.VIDEO)
        subtitles = store_path(MEDIA_SET / "questions" / "satisfaction.nl.vtt", Expect.SUBTITLES)
        picture = store_path(MEDIA_SET / "pictograms" / "face-happy.svg", Expect.PICTOGRAM)
        scale = create_question(
            "Hoe was uw bezoek?",
            QuestionKind.SCALE,
            "nl",
            "Hoe was het?",
            video,
            subtitles,
            [OptionInput(str(n), f"{n}", picture) for n in range(1, 6)],
        )
        choice = create_question(
            "Waarvoor kwam u?",
            QuestionKind.CHOICE,
            "nl",
            "Waarvoor?",
            video,
            subtitles,
            [OptionInput(v, v, picture) for v in ("borrow", "computer", "activity", "study")],
        )
        helpful = create_question(
            "Hielp de medewerker?",
            QuestionKind.SCALE,
            "nl",
            "Hielp het?",
            video,
            subtitles,
            [OptionInput(str(n), f"{n}", picture) for n in range(1, 4)],
        )
        open_question = create_question(
            "Wat kan beter?", QuestionKind.OPEN, "nl", "Wat kan beter?", video, subtitles, []
        )
        plan = create_questionnaire(
            QuestionnairePlan(
                name="Bezoekers",
                activity=None,
                active_from=None,
                active_to=None,
                branches=branches,
                questions=[scale, choice, helpful, open_question],
            )
        )
        tags = [Tag(name=name) for name in ("klacht", "compliment", "computers", "wifi", "jeugd", "oud")]
        db.session.add_all(tags)
        create_user(ADMIN, PASSWORD, Role.ADMIN, []).totp_secret = TOTP_SECRET
        create_user(STAFF, PASSWORD, Role.STAFF, branches[:2])  # the heavy branch and an average one
        db.session.commit()
        return {
            "branches": [b.id for b in branches],
            "questions": [scale.id, choice.id, helpful.id, open_question.id],
            "version": plan.current_version.id,
            "tags": {t.name: t.id for t in tags},
        }


def fill(app: Flask, world: dict[str, Any], now: datetime) -> None:
    """Sessions spread evenly over two years, 15 % in the heavy branch and the rest evenly over the
    other 39, four answers each, in time order; 5 % tagged; the tag "oud" only on answers older than
    18 months (the tag filter's worst case)."""
    sessions = ANSWERS // ANSWERS_PER_SESSION
    scale, choice, helpful, open_question = world["questions"]
    tags = world["tags"]
    with app.app_context():
        run = db.session.execute
        run(text("SELECT setseed(0.42)"))
        run(
            text(
                """
                INSERT INTO sessions (uuid, kiosk_id, branch_id, questionnaire_version_id, language, consent,
                                      started_at, finished_at, received_at)
                SELECT md5('s' || i)::uuid::text, k.id, k.branch_id, :version, 'nl', random() < 0.6,
                       t, t + interval '3 minutes', t + interval '5 minutes'
                FROM (SELECT i, (:branches)[CASE WHEN i % 100 < :heavy THEN 1 ELSE 2 + (i * 7919) % (:n - 1)
                                            END] AS branch_id,
                             :now - random() * interval '730 days' AS t
                      FROM generate_series(1, :sessions) AS i) AS s
                JOIN kiosks k ON k.branch_id = s.branch_id
                ORDER BY s.t
                """
            ),
            {
                "version": world["version"],
                "branches": world["branches"],
                "n": BRANCHES,
                "heavy": HEAVY_PERCENT,
                "now": now,
                "sessions": sessions,
            },
        )
        run(
            text(
                """
                INSERT INTO answers (uuid, session_uuid, question_id, kind, value, branch_id, answered_at,
                                     review_status)
                SELECT md5(s.uuid || q.k)::uuid::text, s.uuid, q.question_id,
                       -- half the open answers are voice rather than video
                       (CASE WHEN q.k = 4 AND random() < 0.5 THEN 'voice' ELSE q.kind END)::answer_kind,
                       CASE q.k WHEN 1 THEN (1 + floor(random() * 5))::int::text
                                WHEN 2 THEN (ARRAY['borrow','computer','activity','study'])
                                            [1 + floor(random() * 4)::int]
                                WHEN 3 THEN (1 + floor(random() * 3))::int::text END,
                       s.branch_id, s.started_at + q.k * interval '20 seconds',
                       (CASE WHEN s.started_at > :now - interval '30 days' THEN 'new'
                             WHEN random() < 0.03 THEN 'flagged' ELSE 'reviewed' END)::review_status
                FROM sessions s
                CROSS JOIN (VALUES (1, :scale, 'scale'), (2, :choice, 'choice'), (3, :helpful, 'scale'),
                                   (4, :open, 'video')) AS q(k, question_id, kind)
                ORDER BY s.started_at, q.k
                """
            ),
            {"now": now, "scale": scale, "choice": choice, "helpful": helpful, "open": open_question},
        )
        run(
            text(
                """
                INSERT INTO answer_tags (answer_uuid, tag_id, created_at)
                SELECT uuid, (:common)[1 + floor(random() * 5)::int], answered_at + interval '1 day'
                FROM answers WHERE random() < 0.05
                """
            ),
            {"common": [tags[n] for n in ("klacht", "compliment", "computers", "wifi", "jeugd")]},
        )
        run(
            text(
                """
                INSERT INTO answer_tags (answer_uuid, tag_id, created_at)
                SELECT uuid, :old, answered_at + interval '1 day' FROM answers
                WHERE answered_at < :now - interval '548 days' AND random() < 0.004
                """
            ),
            {"old": tags["oud"], "now": now},
        )
        db.session.commit()
    with app.app_context(), db.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))


# --- measuring -------------------------------------------------------------------------------


def bare(app: Flask, sql: str, **params: Any) -> Callable[[], object]:
    def run() -> object:
        with app.app_context():
            return db.session.execute(text(sql), params).all()

    return run


def page(client: Any, path: str) -> Callable[[], object]:
    def get() -> object:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        return response.get_data()

    return get


def main() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    folder = Path(tempfile.mkdtemp(prefix="vertelpaal-bench-review-"))
    with throwaway_cluster("-c shared_buffers=256MB -c work_mem=16MB -c maintenance_work_mem=256MB") as url:
        app = create_app(
            {
                "ENVIRON": {"VERTELPAAL_ENV": "development"},
                "SQLALCHEMY_DATABASE_URI": url,
                "MEDIA_ROOT": str(folder / "media"),
                "KIOSK_SEALING_KEY_FILE": str(folder / "kiosk-sealing.key"),
                "SECRET_KEY": "bench",
                "RATELIMIT_ENABLED": False,
            }
        )
        with app.app_context():
            upgrade()
        world = make_world(app)
        started = time.monotonic()
        fill(app, world, now)
        filled = time.monotonic() - started
        with app.app_context():
            answers = db.session.scalar(text("SELECT count(*) FROM answers"))
            sessions = db.session.scalar(text("SELECT count(*) FROM sessions"))
            tagged = db.session.scalar(text("SELECT count(*) FROM answer_tags"))
            size = db.session.scalar(text("SELECT pg_size_pretty(pg_database_size(current_database()))"))
        print(
            f"PostgreSQL: {answers:,} answers, {sessions:,} sessions, {tagged:,} tags on answers, "
            f"{BRANCHES} branches, {DAYS} days; filled in {filled:.0f} s; database {size}; "
            f"{ROUNDS} rounds each"
        )
        measure(app, world, now)


def measure(app: Flask, world: dict[str, Any], now: datetime) -> None:
    admin = app.test_client()
    staff = app.test_client()
    assert login(admin, ADMIN) == 302 and login(staff, STAFF) == 302
    heavy, branch = world["branches"][:2]  # the central library, and an average branch
    old_tag = world["tags"]["oud"]
    with app.app_context():
        deep = db.session.execute(
            text(
                "SELECT answered_at, uuid FROM answers "
                "ORDER BY answered_at DESC, uuid DESC OFFSET 10000 LIMIT 1"
            )
        ).one()
    from admin.responses.queries import Cursor

    cursor = Cursor(deep.answered_at, deep.uuid).encode()
    newest = "SELECT uuid, answered_at FROM answers {where} ORDER BY answered_at DESC, uuid DESC LIMIT 51"
    rows: list[tuple[str, float, float, float, float, int | None]] = []

    def row(name: str, client: Any, path: str, sql: str, budget: int | None, **params: Any) -> None:
        sql_p50, sql_p95 = timed(bare(app, sql, **params))
        p50, p95 = timed(page(client, path))
        rows.append((name, p50, p95, sql_p50, sql_p95, budget))

    row("inbox, newest page (admin)", admin, "/responses", newest.format(where=""), INBOX_BUDGET_MS)
    row(
        "inbox, 10,000 answers down",
        admin,
        f"/responses?before={cursor}",
        newest.format(where="WHERE (answered_at, uuid) < (:at, :uuid)"),
        INBOX_BUDGET_MS,
        at=deep.answered_at,
        uuid=deep.uuid,
    )
    row(
        "inbox, branch + new + recording",
        staff,
        f"/responses?branch={branch}&status=new&kind=recording",
        newest.format(
            where="WHERE branch_id = :branch AND review_status = 'new' AND kind IN ('video', 'voice')"
        ),
        INBOX_BUDGET_MS,
        branch=branch,
    )
    row(
        "inbox, tag only on old answers",
        admin,
        f"/responses?tag={old_tag}",
        newest.format(
            where="WHERE EXISTS (SELECT 1 FROM answer_tags t WHERE t.answer_uuid = answers.uuid "
            "AND t.tag_id = :tag)"
        ),
        INBOX_BUDGET_MS,
        tag=old_tag,
    )
    local = now.date()
    quarter = (local.replace(day=1) - timedelta(days=62)).replace(day=1)
    year = local - timedelta(days=364)
    week_sql = (
        "SELECT date_trunc('week', answered_at AT TIME ZONE 'Europe/Amsterdam') w, count(*) FROM answers "
        "WHERE branch_id = :branch AND answered_at >= :start GROUP BY w"
    )
    month_sql = week_sql.replace("'week'", "'month'")
    quarter_start = datetime.combine(quarter, datetime.min.time(), UTC)
    year_start = datetime.combine(year, datetime.min.time(), UTC)
    a_year = f"from={year.isoformat()}&to={local.isoformat()}&per=month"
    for name, target in (("average branch", branch), (f"heavy branch ({HEAVY_PERCENT} %)", heavy)):
        row(
            f"{name}, 3 months per week",
            staff,
            f"/dashboard?branch={target}",
            week_sql,
            DASHBOARD_BUDGET_MS,
            branch=target,
            start=quarter_start,
        )
        row(
            f"{name}, a year per month",
            staff,
            f"/dashboard?branch={target}&{a_year}",
            month_sql,
            DASHBOARD_BUDGET_MS,
            branch=target,
            start=year_start,
        )
    across = week_sql.replace("branch_id = :branch AND ", "")
    row("across 40 branches, 3 months per week", admin, "/dashboard", across, None, start=quarter_start)
    row(
        "across 40 branches, a year per month",
        admin,
        f"/dashboard?{a_year}",
        month_sql.replace("branch_id = :branch AND ", ""),
        None,
        start=year_start,
    )
    print(f"{'what':40} {'p50 ms':>8} {'p95 ms':>8} {'bare SQL p50':>13} {'p95':>7} {'budget p95':>11}")
    for name, p50, p95, sql_p50, sql_p95, budget in rows:
        verdict = "" if budget is None else f"{budget:>5} {'ok' if p95 <= budget else 'OVER'}"
        print(f"{name:40} {p50:8.1f} {p95:8.1f} {sql_p50:13.1f} {sql_p95:7.1f} {verdict:>11}")
    jit_report(app, admin, ["/dashboard", f"/dashboard?{a_year}"])
    jit_report(app, staff, [f"/dashboard?branch={heavy}&{a_year}"])
    export_rates(app, staff, branch)


def jit_report(app: Flask, client: Any, paths: list[str]) -> None:
    """Whether PostgreSQL's JIT compiles the dashboards' queries, and what it costs: each SQL
    statement of those pages under EXPLAIN (ANALYZE) with JIT as configured (on, the default) and
    with ``jit = off``; then the pages with the server's ``jit`` on and off."""
    statements: list[tuple[str, Any]] = []

    def catch(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    for path in paths:
        statements.clear()
        event.listen(engine, "before_cursor_execute", catch)
        try:
            page(client, path)()
        finally:
            event.remove(engine, "before_cursor_execute", catch)
        print(
            f"JIT, {path}: {len(statements)} queries; EXPLAIN (ANALYZE) execution ms with JIT as "
            "configured / with jit = off (queries under 20 ms without JIT left out)"
        )
        for statement, parameters in statements:
            on = explain(app, statement, parameters, "on")
            off = explain(app, statement, parameters, "off")
            if on[1] is None and on[0] < 20:
                continue  # too cheap for JIT and for a line
            jit = "no JIT" if on[1] is None else f"JIT {on[1]:.0f} ms of it"
            print(f"  {' '.join(statement.split())[:70]:70} {on[0]:7.1f} ({jit}) / {off[0]:7.1f}")
        # That JIT works here at all: the first query again with every plan compiled.
        forced = explain(app, *statements[0], "on", "SET jit_above_cost = 0")
        print(f"  (forced with jit_above_cost = 0, the first query: JIT {forced[1]} ms)")
    for setting in ("off", "on"):  # ends as it began
        with app.app_context():
            with db.engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                    text(f"ALTER DATABASE {connection.engine.url.database} SET jit = {setting}")
                )
            db.engine.dispose()  # new connections take the setting
        for path in paths:
            p50, p95 = timed(page(client, path), max(5, ROUNDS // 4))
            print(f"  page {path[:60]:60} jit = {setting:3} p50 {p50:7.1f} ms, p95 {p95:7.1f} ms")


def explain(
    app: Flask, statement: str, parameters: Any, jit: str, extra: str = "SELECT 1"
) -> tuple[float, float | None]:
    """Execution time and JIT time (None: not compiled) of ``statement``, in milliseconds."""
    with app.app_context():
        connection = db.engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute(f"SET jit = {jit}")
            cursor.execute(extra)
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
            plan = cursor.fetchone()[0][0]
            connection.rollback()
        finally:
            connection.close()
    jit_ms = plan["JIT"]["Timing"]["Total"] if "JIT" in plan else None
    return plan["Execution Time"], jit_ms


def export_rates(app: Flask, client: Any, branch: int) -> None:
    """The answers export of one branch (two years), rows per second, beside fetching its rows."""
    with app.app_context():
        started = time.perf_counter()
        fetched = db.session.execute(
            text(
                "SELECT a.*, s.language, s.kiosk_id, s.questionnaire_version_id FROM answers a "
                "JOIN sessions s ON s.uuid = a.session_uuid WHERE a.branch_id = :branch "
                "ORDER BY a.answered_at DESC, a.uuid DESC"
            ),
            {"branch": branch},
        ).all()
        sql_seconds = time.perf_counter() - started
    started = time.perf_counter()
    with client.get(f"/responses/export.csv?branch={branch}") as response:
        body = response.get_data()
    export_seconds = time.perf_counter() - started
    lines = body.count(b"\n") - 1
    print(
        f"answers export CSV, one branch: {lines:,} rows in {export_seconds:.1f} s = "
        f"{lines / export_seconds:,.0f} rows/s; bare SQL of its rows: {len(fetched):,} rows in "
        f"{sql_seconds:.2f} s = {len(fetched) / sql_seconds:,.0f} rows/s"
    )


if __name__ == "__main__":
    main()
