#!/usr/bin/env bash
# Dump Santé Jeunes' PostgreSQL databases (pg_dump custom format), one file per database and
# run, readable by root only, and delete the dumps older than --keep-days.
#
#   deploy/backup.sh [--dir DIR] [--keep-days N] [--as USER] [DATABASE ...]
#
#   DATABASE     default: sante sante_tracker (ours, and Rasa's tracker store)
#   --dir        default: /var/backups/sante (created with mode 0700)
#   --keep-days  default: 14
#   --as         the system user that runs pg_dump; default postgres (peer authentication on
#                the local socket, run this script as root). --as '' runs it as the caller,
#                with libpq's PGHOST, PGUSER and ~/.pgpass for a server on another host.
#
# Run daily by sante-backup.timer (deploy/systemd/). Redis holds only locks: nothing to save.
# The dumps hold personal data (phone numbers, conversations): copy them off this machine
# encrypted only, and restore with: pg_restore --clean --if-exists -d DATABASE FILE
set -euo pipefail

dir=/var/backups/sante
keep_days=14
as_user=postgres
databases=()

usage() {
    sed -n '2,12s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

while [ "$#" -gt 0 ]; do
    case "$1" in
        --dir) [ "$#" -ge 2 ] || usage; dir=$2; shift 2 ;;
        --keep-days) [ "$#" -ge 2 ] || usage; keep_days=$2; shift 2 ;;
        --as) [ "$#" -ge 2 ] || usage; as_user=$2; shift 2 ;;
        -h | --help) usage ;;
        -*) usage ;;
        *) databases+=("$1"); shift ;;
    esac
done
if [ "${#databases[@]}" -eq 0 ]; then
    databases=(sante sante_tracker)
fi
case "$keep_days" in
    '' | *[!0-9]*) echo "backup: --keep-days must be a number of days" >&2; exit 2 ;;
esac

runner=()
if [ -n "$as_user" ] && [ "$(id -un)" != "$as_user" ]; then
    runner=(runuser -u "$as_user" --)
fi

umask 077
install -d -m 0700 "$dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
partial=""
trap 'if [ -n "$partial" ]; then rm -f -- "$partial"; fi' EXIT

for db in "${databases[@]}"; do
    partial="$dir/.$db-$stamp.dump.partial"
    # pg_dump writes to our stdout: the file is created by this script (0600), not by the
    # postgres user, and a failed or empty dump never takes a finished file's name.
    "${runner[@]}" pg_dump --format=custom --no-password -- "$db" >"$partial"
    pg_restore --list "$partial" >/dev/null
    chmod 0600 "$partial"
    mv -- "$partial" "$dir/$db-$stamp.dump"
    partial=""
    echo "backup: $db -> $dir/$db-$stamp.dump ($(du -h "$dir/$db-$stamp.dump" | cut -f1))"
done

# Only after every dump succeeded: the old ones go.
find "$dir" -maxdepth 1 -type f -name '*.dump' -mtime "+$keep_days" -print -delete \
    | sed 's/^/backup: deleted /'
