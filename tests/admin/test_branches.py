"""Branches: add, rename, deactivate; only admins change them; staff see their own."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from admin.extensions import db
from admin.models import AuditEvent, Branch, Role
from tests.admin.helpers import csrf_token, login


def test_admin_adds_renames_and_deactivates_a_branch(
    app: Flask, client: FlaskClient, make_user: Callable
) -> None:
    make_user("boss@bieb.example", Role.ADMIN, locale="en")
    login(client, "boss@bieb.example")
    client.post("/branches", data={"name": "  Gieten ", "csrf_token": csrf_token(client, "/branches")})
    again = client.post(
        "/branches",
        data={"name": "gieten", "csrf_token": csrf_token(client, "/branches")},
        follow_redirects=True,
    )
    assert "already a branch called gieten" in again.get_data(as_text=True)
    with app.app_context():
        branch = db.session.scalar(select(Branch).where(Branch.name == "Gieten"))
        assert branch is not None and branch.active
        branch_id = branch.id

    response = client.post(
        f"/branches/{branch_id}",
        data={"name": "Gieten-Bonnen", "csrf_token": csrf_token(client, f"/branches/{branch_id}")},
    )  # "active" left unchecked
    assert response.status_code == 302
    with app.app_context():
        branch = db.session.get(Branch, branch_id)
        assert branch is not None and branch.name == "Gieten-Bonnen" and not branch.active
        actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert actions[-2:] == ["branch.create", "branch.update"]
    assert "inactive" in client.get("/branches").get_data(as_text=True)


def test_staff_see_only_their_branches_and_cannot_change_them(
    app: Flask, client: FlaskClient, make_branch: Callable, make_user: Callable
) -> None:
    roden, borger = make_branch("Roden"), make_branch("Borger")
    make_user("roden@bieb.example", Role.STAFF, ["Roden"])
    login(client, "roden@bieb.example")
    page = client.get("/branches").get_data(as_text=True)
    assert "Roden" in page and "Borger" not in page
    token = csrf_token(client, "/branches")
    assert client.post("/branches", data={"name": "Mine", "csrf_token": token}).status_code == 404
    assert client.get(f"/branches/{roden.id}").status_code == 404
    assert client.post(f"/branches/{borger.id}", data={"name": "X", "csrf_token": token}).status_code == 404
    with app.app_context():
        assert sorted(db.session.scalars(select(Branch.name))) == ["Borger", "Roden"]


def test_a_staff_session_ends_after_the_idle_time(
    app: Flask, client: FlaskClient, make_user: Callable
) -> None:

    # Sessions store whole seconds, so a sign-in may look up to a second old at once.
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=3)
    make_user("boss@bieb.example", Role.ADMIN)
    login(client, "boss@bieb.example")
    assert client.get("/").status_code == 200
    time.sleep(4.2)
    assert client.get("/").status_code == 302
