#!/bin/bash
# Vertelpaal restore: put a backup made by backup.sh back - the database and the media folder.
#
#   restore.sh [--yes] BACKUP_FOLDER
#
# Environment (as for backup.sh; on the server: set -a; . /etc/vertelpaal/admin.env; set +a):
#   DATABASE_URL  the database to restore into (it must exist; its owner runs this)
#   MEDIA_ROOT    the media folder to restore into
#   KIOSK_SEALING_KEY_FILE  where the sealing keys go back to (when the backup holds them)
#
# What it does, in this order:
#   1. checks the backup: the dump against SHA256SUMS, the media files against MEDIA_FILES (none
#      missing, same sizes) and each file named by a sha256 against its content (a damaged backup
#      is never restored);
#   2. replaces everything in the database's public schema with the backup, in one transaction
#      (if anything fails, the database is left as it was);
#   3. makes MEDIA_ROOT exactly the backup's media/ (files added since are removed);
#   4. puts the sealing keys back into KIOSK_SEALING_KEY_FILE (mode 0600), after the keys that file
#      holds now: a key made after the backup stays the current one, and recordings sealed to any
#      key of either still open.
# Stop the app first (systemctl stop vertelpaal-admin vertelpaal-worker), start it afterwards,
# and when the backup is older than the installed version, run `flask --app admin db upgrade`.
# Without --yes it asks before it overwrites anything.
set -euo pipefail
umask 027

die() { echo "restore: $*" >&2; exit 1; }

yes=no
if [[ ${1:-} == --yes ]]; then
    yes=yes
    shift
fi
[[ $# -eq 1 ]] || die "usage: restore.sh [--yes] BACKUP_FOLDER"
backup=$(cd "$1" 2>/dev/null && pwd) || die "$1 is not a folder"
[[ -n ${DATABASE_URL:-} ]] || die "DATABASE_URL is not set (see /etc/vertelpaal/admin.env)"
[[ -n ${MEDIA_ROOT:-} ]] || die "MEDIA_ROOT is not set (see /etc/vertelpaal/admin.env)"
[[ -f $backup/database.dump && -d $backup/media && -f $backup/SHA256SUMS && -f $backup/MEDIA_FILES ]] \
    || die "$backup is not a complete backup (database.dump, media/, SHA256SUMS and MEDIA_FILES expected)"
pg_url=$(sed -E 's#^postgres(ql)?\+[A-Za-z0-9_]+://#postgresql://#' <<<"$DATABASE_URL")
if [[ -f $backup/kiosk-sealing.key && -z ${KIOSK_SEALING_KEY_FILE:-} ]]; then
    die "the backup holds the kiosk sealing keys: set KIOSK_SEALING_KEY_FILE (see /etc/vertelpaal/admin.env)"
fi

if command -v systemctl >/dev/null && systemctl is-active --quiet vertelpaal-admin.service 2>/dev/null; then
    die "vertelpaal-admin.service is running: stop it first (systemctl stop vertelpaal-admin vertelpaal-worker)"
fi

echo "checking $backup ..."
(cd "$backup" && sha256sum --check --quiet --strict SHA256SUMS) || die "the database dump does not match SHA256SUMS"
diff <(cd "$backup/media" && find . -type f -printf '%P\t%s\n' | LC_ALL=C sort) "$backup/MEDIA_FILES" >&2 \
    || die "the backup's media/ differs from MEDIA_FILES (above: < on disk, > listed)"
(
    cd "$backup/media"
    find . -type f -regextype posix-extended -regex '.*/[0-9a-f]{64}' -print0 \
        | xargs -0 --no-run-if-empty sha256sum \
        | awk '{ n = split($2, part, "/"); if ($1 != part[n]) { print "damaged: " $2 > "/dev/stderr"; bad = 1 } }
               END { exit bad }'
) || die "media files in the backup do not match their sha256 names"

if [[ $yes != yes ]]; then
    [[ -t 0 ]] || die "not asking on a non-terminal: add --yes"
    echo "This replaces the database $(sed -E 's#//[^@/]*@#//#' <<<"$pg_url") and the media in $MEDIA_ROOT"
    read -r -p "with the backup $backup. Type yes to go on: " answer
    [[ $answer == yes ]] || die "nothing changed"
fi

echo "restoring the database ..."
# One transaction: the old schema is dropped and the backup loaded, or nothing happens. If
# pg_restore fails half-way, the statement after its output raises an error, so psql rolls back
# instead of committing a half-restored database.
{
    echo 'SET client_min_messages = warning;'
    echo 'DROP SCHEMA IF EXISTS public CASCADE;'
    echo 'CREATE SCHEMA public;'
    if pg_restore --no-owner --no-privileges --file=- "$backup/database.dump"; then
        echo "SELECT 'restored';"
    else
        echo ";DO \$\$ BEGIN RAISE EXCEPTION 'pg_restore failed: rolling back'; END \$\$;"
    fi
} | psql --quiet --no-psqlrc --single-transaction --set=ON_ERROR_STOP=1 --output=/dev/null "$pg_url" \
    || die "the database restore failed; the database is unchanged"

echo "restoring the media ..."
mkdir -p "$MEDIA_ROOT"
# No owner or group: restored files take the media folder's group (setgid: nginx's www-data).
rsync --recursive --links --perms --times --delete "$backup/media/" "$MEDIA_ROOT/"

if [[ -f $backup/kiosk-sealing.key ]]; then
    echo "restoring the kiosk sealing keys ..."
    keys=$KIOSK_SEALING_KEY_FILE
    mkdir -p "$(dirname "$keys")"
    merged=$(mktemp "$(dirname "$keys")/.kiosk-sealing.XXXXXX")
    chmod 600 "$merged"
    current=/dev/null
    [[ -f $keys ]] && current=$keys
    {
        cat "$current"
        # The backup's keys that the file does not hold already (comments come from the file).
        grep -v '^#' "$backup/kiosk-sealing.key" | grep -vxF -f "$current" || true
    } > "$merged"
    grep -q '^[0-9a-f]' "$merged" || { rm -f "$merged"; die "no key in the backup's kiosk-sealing.key"; }
    sync -f "$merged" 2>/dev/null || true
    mv "$merged" "$keys"
fi

echo "restore complete from $backup"
echo "next: flask --app admin db upgrade (if the backup is older than the installed version), then start the app"
