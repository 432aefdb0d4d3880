"""Media know their purpose (question or visitor's recording) and the kiosk that uploaded a recording

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 21:45:00.000000

"""
import json

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# Where staff-chosen media are named: whatever these name is question media, whatever else was
# uploaded by a kiosk or answered with is a recording.
QUESTION_COLUMNS = [
    ('question_prompts', 'video_sha256'),
    ('question_prompts', 'subtitles_sha256'),
    ('answer_options', 'pictogram_sha256'),
    ('option_translations', 'audio_sha256'),
    ('questionnaires', 'activity_pictogram_sha256'),
    ('questionnaires', 'activity_audio_sha256'),
]


def upgrade():
    with op.batch_alter_table('media') as batch:
        batch.add_column(sa.Column('purpose', sa.String(length=9), nullable=False, server_default='question'))
        batch.add_column(sa.Column('kiosk_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_media_kiosk_id_kiosks', 'kiosks', ['kiosk_id'], ['id'], ondelete='SET NULL')
        batch.create_check_constraint('ck_media_purpose', "purpose IN ('question', 'recording')")
        batch.create_index('ix_media_kiosk_id', ['kiosk_id'])
    _mark_recordings(op.get_bind())


def _mark_recordings(bind):
    def shas(query, **parameters):
        return {row[0] for row in bind.execute(sa.text(query), parameters) if row[0]}

    question = set()
    for table, column in QUESTION_COLUMNS:
        question |= shas(f'SELECT {column} FROM {table}')
    for (audio,) in bind.execute(sa.text('SELECT parent_audio FROM privacy_settings')):
        audio = json.loads(audio) if isinstance(audio, str) else audio
        question |= {sha for sha in (audio or {}).values() if sha}
    question |= shas(
        'SELECT poster_sha256 FROM media WHERE sha256 IN (SELECT video_sha256 FROM question_prompts)'
    )
    # The first kiosk that finished uploading a file owns it.
    owners = {}
    uploads = bind.execute(
        sa.text(
            'SELECT media_sha256, kiosk_id FROM uploads WHERE media_sha256 IS NOT NULL '
            'AND completed_at IS NOT NULL ORDER BY completed_at DESC'
        )
    )
    for sha, kiosk_id in uploads:
        owners[sha] = kiosk_id
    recordings = (shas('SELECT media_sha256 FROM answers') | set(owners)) - question
    posters = {
        sha: poster
        for sha, poster in bind.execute(sa.text('SELECT sha256, poster_sha256 FROM media WHERE poster_sha256 IS NOT NULL'))
        if sha in recordings and poster not in question
    }
    rows = [{'sha': sha, 'kiosk': owners.get(sha)} for sha in recordings]
    rows += [{'sha': poster, 'kiosk': owners.get(sha)} for sha, poster in posters.items()]
    if rows:
        bind.execute(
            sa.text("UPDATE media SET purpose = 'recording', kiosk_id = :kiosk WHERE sha256 = :sha"), rows
        )


def downgrade():
    with op.batch_alter_table('media') as batch:
        batch.drop_index('ix_media_kiosk_id')
        batch.drop_constraint('ck_media_purpose', type_='check')
        batch.drop_constraint('fk_media_kiosk_id_kiosks', type_='foreignkey')
        batch.drop_column('kiosk_id')
        batch.drop_column('purpose')
