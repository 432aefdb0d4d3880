#!/bin/bash
# Vertelpaal backup: the database (pg_dump -Fc) and the media folder, into one dated folder.
#
#   backup.sh [BACKUP_DIR]
#
# Environment (the admin server's /etc/vertelpaal/admin.env has the first two):
#   DATABASE_URL  the app's database URL (postgresql+psycopg://... or postgresql://...)
#   MEDIA_ROOT    the media folder
#   KIOSK_SEALING_KEY_FILE  the private keys that open kiosks' sealed recordings (when set and
#                 present; lose them and every sealed recording not yet uploaded is lost too)
#   BACKUP_DIR    where the dated folders go (or the first argument)
#   KEEP_DAYS     remove backups older than this many days (default 14; the newest always stays)
#
# Each run makes BACKUP_DIR/<YYYY-MM-DDTHHMMSSZ>/ with
#   database.dump  pg_dump --format=custom
#   media/         a copy of MEDIA_ROOT; files that did not change since the previous backup are
#                  hard links into it (media files never change: they are named by their sha256),
#                  so every backup is complete on its own but only new files take space
#   kiosk-sealing.key  a copy of KIOSK_SEALING_KEY_FILE (mode 0600), when there is one
#   SHA256SUMS     the checksums of the dump and the key file (media files need none: each is named
#                  by its sha256)
#   MEDIA_FILES    every media file with its size, so restore.sh can tell that none is missing
#   INFO           when, from where, how many files
# The folder is assembled as .<name>.partial and renamed when complete: a folder without that
# suffix is a whole backup. The nightly timer runs this as vertelpaal-backup.service; by hand:
#   sudo -u vertelpaal bash -c 'set -a; . /etc/vertelpaal/admin.env; set +a; /opt/vertelpaal/bin/vertelpaal-backup /var/backups/vertelpaal'
set -euo pipefail
umask 077

die() { echo "backup: $*" >&2; exit 1; }

[[ -n ${DATABASE_URL:-} ]] || die "DATABASE_URL is not set (see /etc/vertelpaal/admin.env)"
[[ -n ${MEDIA_ROOT:-} ]] || die "MEDIA_ROOT is not set (see /etc/vertelpaal/admin.env)"
backup_dir=${1:-${BACKUP_DIR:-}}
[[ -n $backup_dir ]] || die "say where the backups go: backup.sh BACKUP_DIR (or set BACKUP_DIR)"
keep_days=${KEEP_DAYS:-14}
[[ $keep_days =~ ^[0-9]+$ && $keep_days -ge 1 ]] || die "KEEP_DAYS must be a whole number of days (at least 1)"
[[ -d $MEDIA_ROOT ]] || die "MEDIA_ROOT $MEDIA_ROOT is not a folder"
# SQLAlchemy's driver suffix (postgresql+psycopg://) means nothing to libpq.
pg_url=$(sed -E 's#^postgres(ql)?\+[A-Za-z0-9_]+://#postgresql://#' <<<"$DATABASE_URL")
[[ $pg_url == postgresql://* || $pg_url == postgres://* ]] || die "DATABASE_URL is not a PostgreSQL URL"

mkdir -p "$backup_dir"
backup_dir=$(cd "$backup_dir" && pwd)
stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
target=$backup_dir/$stamp
work=$backup_dir/.$stamp.partial
[[ ! -e $target ]] || die "$target exists already"
# What a crashed run left behind is incomplete by definition.
find "$backup_dir" -maxdepth 1 -name '.*.partial' -type d -exec rm -rf {} +
mkdir "$work"
trap 'rm -rf "$work"' EXIT

# The newest complete backup, for the hard links.
previous=$(find "$backup_dir" -maxdepth 1 -mindepth 1 -type d -regextype posix-extended \
    -regex '.*/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{6}Z' -printf '%f\n' | sort | tail -n 1)

# 1. The database first: a media file is written before the row that names it, so every file the
#    dump names is on disk by the time the copy below runs.
pg_dump --format=custom --compress=6 --file="$work/database.dump" "$pg_url"

# 2. The media folder.
link_dest=()
if [[ -n $previous && -d $backup_dir/$previous/media ]]; then
    link_dest=(--link-dest="$backup_dir/$previous/media")
fi
# No owner or group (-o -g): the media folder's group is nginx's (www-data), which the service user
# may not set; what matters is the content, the permissions and the times.
rsync --recursive --links --perms --times --delete "${link_dest[@]}" "$MEDIA_ROOT/" "$work/media/"

# 3. The sealing keys: small, secret, and without them sealed recordings on kiosks cannot be opened.
if [[ -n ${KIOSK_SEALING_KEY_FILE:-} && -f $KIOSK_SEALING_KEY_FILE ]]; then
    install -m 0600 "$KIOSK_SEALING_KEY_FILE" "$work/kiosk-sealing.key"
elif [[ -n ${KIOSK_SEALING_KEY_FILE:-} ]]; then
    echo "backup: note: $KIOSK_SEALING_KEY_FILE does not exist yet (no kiosk has asked for it)" >&2
fi

# 4. Checksums, list of files and a note.
(
    cd "$work"
    sha256sum database.dump $([[ -f kiosk-sealing.key ]] && echo kiosk-sealing.key) > SHA256SUMS
    find media -type f -printf '%P\t%s\n' | LC_ALL=C sort > MEDIA_FILES
)
files=$(find "$work/media" -type f | wc -l)
{
    echo "made: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host: $(hostname)"
    echo "database: $(sed -E 's#//[^@/]*@#//#' <<<"$pg_url")"
    echo "media: $MEDIA_ROOT ($files files)"
    echo "restore: restore.sh $target"
} > "$work/INFO"
sync -f "$work/database.dump" 2>/dev/null || true
mv "$work" "$target"
trap - EXIT

# 5. Remove backups older than KEEP_DAYS (never the one just made).
cutoff=$(date -u -d "-$keep_days days" +%Y-%m-%dT%H%M%SZ)
find "$backup_dir" -maxdepth 1 -mindepth 1 -type d -regextype posix-extended \
    -regex '.*/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{6}Z' -printf '%f\n' | sort | while read -r name; do
    if [[ $name < $cutoff && $name != "$stamp" ]]; then
        rm -rf "${backup_dir:?}/$name"
        echo "removed old backup $name"
    fi
done
echo "backup complete: $target ($files media files)"
