"""Privacy: retention and parent-step settings, erased sessions, parent consent, an append-only audit log

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 04:10:00

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

APPEND_ONLY = "the audit log is append-only"

# The one update allowed: an account's deletion clears user_id (the actor's name stays).
POSTGRES_GUARD = f"""
CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.user_id IS NULL AND NEW.id = OLD.id AND NEW.at = OLD.at
       AND NEW.actor = OLD.actor AND NEW.action = OLD.action AND NEW.target = OLD.target
       AND NEW.details::text = OLD.details::text THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '{APPEND_ONLY}';
END
$$ LANGUAGE plpgsql
"""
POSTGRES_TRIGGERS = [
    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
    "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()",
]
# SQLite drops a table's triggers when batch mode rebuilds it: a later migration that alters
# audit_events must create these again.
SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
        BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END""",
    f"""CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
        WHEN NOT (NEW.user_id IS NULL AND NEW.id = OLD.id AND NEW.at IS OLD.at
                  AND NEW.actor IS OLD.actor AND NEW.action IS OLD.action
                  AND NEW.target IS OLD.target AND NEW.details IS OLD.details)
        BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END""",
]


def upgrade():
    op.create_table(
        'privacy_settings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('video_days', sa.Integer(), nullable=True),
        sa.Column('voice_days', sa.Integer(), nullable=True),
        sa.Column('tap_days', sa.Integer(), nullable=True),
        sa.Column('parent_step', sa.Boolean(), nullable=False),
        sa.Column('parent_texts', sa.JSON(), nullable=False),
        sa.Column('parent_audio', sa.JSON(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_settings')),
    )
    op.create_table(
        'erased_sessions',
        sa.Column('uuid', sa.String(length=36), nullable=False),
        sa.Column('erased_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('uuid', name=op.f('pk_erased_sessions')),
    )
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_consent', sa.Boolean(), nullable=True))

    if op.get_bind().dialect.name == 'postgresql':
        op.execute(POSTGRES_GUARD)
        for statement in POSTGRES_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION audit_events_append_only()")
    else:
        op.execute("DROP TRIGGER audit_events_no_update")
        op.execute("DROP TRIGGER audit_events_no_delete")

    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_column('parent_consent')
    op.drop_table('erased_sessions')
    op.drop_table('privacy_settings')
