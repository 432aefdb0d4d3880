"""Activities with schedules per branch, the member question, kiosk locations

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 18:20:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'activity_schedules',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('questionnaire_id', sa.Integer(), nullable=False),
        sa.Column('branch_id', sa.Integer(), nullable=False),
        sa.Column('weekday', sa.Integer(), nullable=True),
        sa.Column('on_date', sa.Date(), nullable=True),
        sa.Column('starts', sa.Time(), nullable=False),
        sa.Column('ends', sa.Time(), nullable=False),
        sa.CheckConstraint('(weekday IS NULL) <> (on_date IS NULL)', name=op.f('ck_activity_schedules_weekday_or_date')),
        sa.CheckConstraint('weekday IS NULL OR (weekday >= 0 AND weekday <= 6)', name=op.f('ck_activity_schedules_weekday')),
        sa.CheckConstraint('starts < ends', name=op.f('ck_activity_schedules_order')),
        sa.ForeignKeyConstraint(
            ['branch_id'], ['branches.id'], name=op.f('fk_activity_schedules_branch_id_branches'), ondelete='CASCADE'
        ),
        sa.ForeignKeyConstraint(
            ['questionnaire_id'], ['questionnaires.id'],
            name=op.f('fk_activity_schedules_questionnaire_id_questionnaires'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_activity_schedules')),
    )
    op.create_index('ix_activity_schedules_questionnaire_id', 'activity_schedules', ['questionnaire_id'])
    with op.batch_alter_table('questionnaires') as batch:
        batch.add_column(sa.Column('activity_pictogram_sha256', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('activity_audio_sha256', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('minutes_after', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('ask_member', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.create_foreign_key(
            'fk_questionnaires_activity_pictogram_sha256_media', 'media', ['activity_pictogram_sha256'], ['sha256']
        )
        batch.create_foreign_key('fk_questionnaires_activity_audio_sha256_media', 'media', ['activity_audio_sha256'], ['sha256'])
    with op.batch_alter_table('sessions') as batch:
        batch.add_column(sa.Column('activity', sa.String(length=120), nullable=True))
        batch.add_column(sa.Column('member', sa.String(length=8), nullable=True))
        batch.add_column(sa.Column('location', sa.String(length=120), nullable=True))
    with op.batch_alter_table('kiosks') as batch:
        batch.add_column(sa.Column('location', sa.String(length=120), nullable=True))
    with op.batch_alter_table('kiosk_placements') as batch:
        batch.add_column(sa.Column('location', sa.String(length=120), nullable=True))


def downgrade():
    with op.batch_alter_table('kiosk_placements') as batch:
        batch.drop_column('location')
    with op.batch_alter_table('kiosks') as batch:
        batch.drop_column('location')
    with op.batch_alter_table('sessions') as batch:
        batch.drop_column('location')
        batch.drop_column('member')
        batch.drop_column('activity')
    with op.batch_alter_table('questionnaires') as batch:
        batch.drop_constraint('fk_questionnaires_activity_audio_sha256_media', type_='foreignkey')
        batch.drop_constraint('fk_questionnaires_activity_pictogram_sha256_media', type_='foreignkey')
        batch.drop_column('ask_member')
        batch.drop_column('minutes_after')
        batch.drop_column('activity_audio_sha256')
        batch.drop_column('activity_pictogram_sha256')
    op.drop_index('ix_activity_schedules_questionnaire_id', table_name='activity_schedules')
    op.drop_table('activity_schedules')
