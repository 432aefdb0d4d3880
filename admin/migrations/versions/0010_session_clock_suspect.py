"""Sessions whose kiosk clock was not believable are flagged, with the kiosk's claimed start

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 22:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('sessions') as batch_op:
        batch_op.add_column(
            sa.Column('clock_suspect', sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column('kiosk_started_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('sessions') as batch_op:
        batch_op.drop_column('kiosk_started_at')
        batch_op.drop_column('clock_suspect')
