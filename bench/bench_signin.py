"""Sign-in answer times: a known e-mail with a wrong password beside an unknown e-mail (issue #13
asks for the same timing, so nobody learns which accounts exist), and the same two once their
address is throttled (both refused before any password is checked).

In-process (Flask test client, SQLite); each unthrottled attempt comes from its own address.
"""

from __future__ import annotations

import statistics
import time

from benchapp import sqlite_app

from admin.accounts.operations import create_user
from admin.extensions import db
from admin.models import Role

ROUNDS = 15
KNOWN, UNKNOWN = "anna@bieb.example", "nobody@bieb.example"


def main() -> None:
    app = sqlite_app()
    with app.app_context():
        create_user(KNOWN, "the right password", Role.ADMIN, [])
        db.session.commit()

    def attempt(email: str, address: str) -> tuple[int, float]:
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        started = time.perf_counter()
        status = client.post("/login", data={"email": email, "password": "a wrong one"}).status_code
        return status, (time.perf_counter() - started) * 1000

    rows = []
    for label, email, throttled in (
        ("known e-mail, wrong password", KNOWN, False),
        ("unknown e-mail", UNKNOWN, False),
        ("known e-mail, throttled", KNOWN, True),
        ("unknown e-mail, throttled", UNKNOWN, True),
    ):
        if throttled:
            for _ in range(5):
                attempt(email, f"192.0.2.{1 + (email == UNKNOWN)}")
        samples = []
        for n in range(ROUNDS):
            address = (
                f"192.0.2.{1 + (email == UNKNOWN)}"
                if throttled
                else f"203.0.113.{n + 100 * (email == UNKNOWN)}"
            )
            status, ms = attempt(email, address)
            assert status == (429 if throttled else 401), (label, status)
            samples.append(ms)
        samples.sort()
        rows.append((label, statistics.median(samples), samples[int(len(samples) * 0.95) - 1]))

    print(f"Sign-in on SQLite, {ROUNDS} attempts each (argon2 as configured)")
    print(f"{'what':32} {'p50 ms':>8} {'p95 ms':>8}")
    for label, p50, p95 in rows:
        print(f"{label:32} {p50:8.1f} {p95:8.1f}")
    print(
        f"known / unknown p50: {rows[0][1] / rows[1][1]:.2f} (wrong password), "
        f"{rows[2][1] / rows[3][1]:.2f} (throttled)"
    )


if __name__ == "__main__":
    main()
