#!/bin/bash
# Renders the plain files - deploy/systemd/ and deploy/nginx/vertelpaal.conf - from the Ansible roles'
# templates, with the values in render-plain-files.vars.yml. The roles are the source; these files are
# there to read and to check (systemd-analyze verify, nginx -t). tests/deploy fails when they are stale:
# run this after changing a template.
#
#   deploy/render-plain-files.sh [OUTPUT_DIR]     (default: deploy/ itself)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
playbook=${ANSIBLE_PLAYBOOK:-$(command -v ansible-playbook || echo "$here/../.venv/bin/ansible-playbook")}
python=$(head -n 1 "$playbook" | sed -n 's/^#!//p')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat > "$work/inventory.yml" <<INVENTORY
all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: ${python:-python3}
    ansible_become: false
    vertelpaal_test_mode: true
  children:
    admin:
      hosts:
        admin-render: {vertelpaal_root: "$work/admin"}
    kiosks:
      hosts:
        kiosk-render: {vertelpaal_root: "$work/kiosk"}
INVENTORY

ANSIBLE_NOCOLOR=1 ANSIBLE_PIPELINING=1 ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_LOCALHOST_WARNING=0 \
    "$playbook" -i "$work/inventory.yml" "$here/ansible/site.yml" --tags vertelpaal_files \
    -e "@$here/render-plain-files.vars.yml" > "$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }

mkdir -p "$out/systemd/system.conf.d" "$out/systemd/journald.conf.d" "$out/nginx"
for root in "$work/kiosk" "$work/admin"; do
    cp "$root"/etc/systemd/system/*.service "$root"/etc/systemd/system/*.timer "$root"/etc/systemd/system/*.mount \
        "$out/systemd/" 2>/dev/null || true
done
cp "$work/kiosk/etc/systemd/system.conf.d/vertelpaal-watchdog.conf" "$out/systemd/system.conf.d/"
cp "$work/kiosk/etc/systemd/journald.conf.d/vertelpaal.conf" "$out/systemd/journald.conf.d/"
cp "$work/admin/etc/nginx/sites-available/vertelpaal.conf" "$out/nginx/vertelpaal.conf"
echo "rendered into $out/systemd and $out/nginx"
