from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from admin import audit
from admin.extensions import db
from admin.models import Branch


class BranchError(ValueError):
    pass


def _check_name_free(name: str, branch: Branch | None = None) -> str:
    name = " ".join(name.split())
    if not name:
        raise BranchError(_("A branch needs a name."))
    # SQLite's lower() knows only ASCII: the exact name is looked for too (the column is unique).
    taken = db.session.scalar(
        select(Branch).where(or_(Branch.name == name, func.lower(Branch.name) == name.lower())).limit(1)
    )
    if taken is not None and taken is not branch:
        raise BranchError(_("There is already a branch called %(name)s.", name=name))
    return name


def create_branch(name: str) -> Branch:
    branch = Branch(name=_check_name_free(name))
    db.session.add(branch)
    db.session.flush()
    audit.record("branch.create", f"branch:{branch.id}", name=branch.name)
    return branch


def update_branch(branch: Branch, name: str, active: bool) -> None:
    new_name = _check_name_free(name, branch)
    audit.record("branch.update", f"branch:{branch.id}", old=branch.name, name=new_name, active=active)
    branch.name, branch.active = new_name, active
