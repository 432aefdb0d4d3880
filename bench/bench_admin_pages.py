"""Admin pages on the demo data (SQLite): request time beside the bare SQL they rest on.

Prints p50/p95 of the start page ("new for me", an aggregate over all answers) and of the
questionnaire list, each with the time of the start page's bare SQL query as the baseline, so the
ratio shows what Flask, templates and the ORM add. The inbox, the dashboards and the answers
export with 1,000,000 answers on PostgreSQL (the budgets in docs/budgets.md) are measured by
bench/bench_review.py.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable

import pyotp
from benchapp import sqlite_app
from sqlalchemy import text

from admin.demo.seed import DEMO_TOTP_SECRET
from admin.extensions import db

ROUNDS = 60
HOME_SQL = text(
    "SELECT b.id, count(a.uuid) FILTER (WHERE a.review_status = 'new') FROM branches b "
    "LEFT JOIN answers a ON a.branch_id = b.id GROUP BY b.id"
)


def timed(action: Callable[[], object], rounds: int = ROUNDS) -> tuple[float, float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> None:
    app = sqlite_app(RATELIMIT_ENABLED=False)
    result = app.test_cli_runner().invoke(args=["demo", "seed", "--days", "365"])
    answers = re.search(r"with (\d+) answers", result.output)
    client = app.test_client()
    client.post("/login", data={"email": "admin@vertelpaal.example", "password": "vertelpaal-demo"})
    # The demo admin signs in in two steps (admin.demo.seed.DEMO_TOTP_SECRET).
    client.post("/login/code", data={"code": pyotp.TOTP(DEMO_TOTP_SECRET).now()})

    with app.app_context():
        sql_p50, sql_p95 = timed(lambda: db.session.execute(HOME_SQL).all())
    rows = [("bare SQL of the start page", sql_p50, sql_p95)]
    for name, path in (("start page /", "/"), ("questionnaires", "/questionnaires")):
        p50, p95 = timed(lambda path=path: client.get(path).status_code)
        rows.append((name, p50, p95))

    print(f"SQLite demo data: {answers.group(1) if answers else '?'} answers, {ROUNDS} rounds each")
    print(f"{'what':32} {'p50 ms':>8} {'p95 ms':>8} {'p50 / bare SQL':>15}")
    for name, p50, p95 in rows:
        print(f"{name:32} {p50:8.1f} {p95:8.1f} {p50 / sql_p50:14.1f}x")


if __name__ == "__main__":
    main()
