"""Factories for admin tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from flask import Flask

from admin.extensions import db
from admin.models import Branch, Role, User
from tests.admin.helpers import PASSWORD


@pytest.fixture
def make_branch(app: Flask) -> Callable[..., Branch]:
    def make(name: str = "Roden") -> Branch:
        with app.app_context():
            branch = Branch(name=name)
            db.session.add(branch)
            db.session.commit()
            db.session.refresh(branch)
            db.session.expunge(branch)
            return branch

    return make


@pytest.fixture
def make_user(app: Flask) -> Callable[..., User]:
    from admin.accounts.operations import create_user

    def make(
        email: str,
        role: Role = Role.STAFF,
        branches: Sequence[str] = (),
        password: str = PASSWORD,
        locale: str = "nl",
    ) -> User:
        with app.app_context():
            chosen = [db.session.scalar(db.select(Branch).where(Branch.name == n)) for n in branches]
            user = create_user(email, password, role, chosen, locale=locale)
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
            return user

    return make
