#!/usr/bin/env bash
# Builds a Debian 12 (bookworm) arm64 root, the base of Raspberry Pi OS Bookworm, from Debian's
# packages, installs the kiosk into it the way a Pi gets it (python3 venv, the kiosk's lock with
# --require-hashes, the package with --no-deps) and runs `python -m kiosk selftest` there with the
# file camera. arm64 programs run emulated by qemu-user-static: this checks that everything
# installs and works on the Pi's architecture, not how fast (emulation is many times slower).
#
# Usage (as root): deploy/arm64/selftest.sh [ROOT]   (make arm64-selftest)
# Idempotent: the root is cached under var/arm64/ (ROOT); a step is done again only when what
# it depends on changed (the lock, the kiosk's source).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
root=${1:-$repo/var/arm64/root}
suite=bookworm
app=/opt/vertelpaal  # inside the root
# What the kiosk's wheels need at run time besides python: PortAudio for sounddevice, the GL and
# GLib libraries opencv-python links against; ca-certificates for pip's TLS.
packages=python3,python3-venv,libportaudio2,libgl1,libglib2.0-0,ca-certificates

log() { printf '[arm64] %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
	echo "run as root (debootstrap, chroot and binfmt_misc need it)" >&2
	exit 2
fi

# Debian's own mirror, as this machine's apt uses it (deb822 "URIs:" or a one-line "deb" entry).
mirror() {
	local uri
	uri=$(grep -hs -E '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' |
		grep -E '/debian/?$' | head -n1 || true)
	if [ -z "$uri" ]; then
		uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
			awk '$1 == "deb" && $2 ~ /\/debian\/?$/ {print $2; exit}' || true)
	fi
	echo "${uri:-http://deb.debian.org/debian}"
}

host_tools() {
	local missing=()
	for p in qemu-user-static debootstrap binfmt-support; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing ${missing[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
	fi
	if ! mountpoint -q /proc/sys/fs/binfmt_misc; then
		mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
	fi
	update-binfmts --enable qemu-aarch64 2>/dev/null || true
	if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
		update-binfmts --import qemu-aarch64
		update-binfmts --enable qemu-aarch64
	fi
}

build_root() {
	if [ -e "$root/.vertelpaal-root" ]; then
		return
	fi
	rm -rf "$root"
	mkdir -p "$root"
	local from
	from=$(mirror)
	log "debootstrap $suite arm64 from $from into $root"
	debootstrap --arch=arm64 --variant=minbase --include="$packages" "$suite" "$root" "$from"
	echo "$suite arm64 $(date -u +%FT%TZ)" >"$root/.vertelpaal-root"
}

# Mounts for the chroot, undone on exit. No /dev/snd and no PulseAudio inside: the Pi-less root
# has no microphone, which the selftest must report rather than crash on.
mounted=()
enter() {
	mkdir -p "$root/proc" "$root/dev" "$root/sys"
	mount -t proc proc "$root/proc" && mounted+=("$root/proc")
	mount -t sysfs sysfs "$root/sys" && mounted+=("$root/sys")
	mount -t tmpfs -o mode=755 dev "$root/dev" && mounted+=("$root/dev")
	for node in null zero random urandom full tty; do
		touch "$root/dev/$node"
		mount --bind "/dev/$node" "$root/dev/$node" && mounted+=("$root/dev/$node")
	done
	mkdir -p "$root/dev/shm" && mount -t tmpfs shm "$root/dev/shm" && mounted+=("$root/dev/shm")
	cp -L /etc/resolv.conf "$root/etc/resolv.conf"
	# pip inside trusts what this machine's pip trusts (a site may reach PyPI through its own CA).
	cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/host-ca-certificates.crt"
}
leave() {
	local i
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount "${mounted[$i]}" 2>/dev/null || umount -l "${mounted[$i]}" || true
	done
	mounted=()
}
trap leave EXIT

in_root() {
	chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin \
		PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 \
		PIP_CERT=/etc/ssl/certs/host-ca-certificates.crt "$@"
}

install_kiosk() {
	local lock=$repo/deploy/requirements/kiosk.lock
	local lock_sum src_sum
	lock_sum=$(sha256sum "$lock" | cut -d' ' -f1)
	mkdir -p "$root$app"
	if [ "$(cat "$root$app/.lock-installed" 2>/dev/null)" != "$lock_sum" ]; then
		log "venv and the kiosk's locked dependencies (pip under emulation: a few minutes)"
		rm -rf "$root$app/venv"
		in_root python3 -m venv "$app/venv"
		cp "$lock" "$root$app/kiosk.lock"
		in_root "$app/venv/bin/pip" install -q --require-hashes --no-deps -r "$app/kiosk.lock"
		echo "$lock_sum" >"$root$app/.lock-installed"
	fi
	# The project's tracked files as they are in the work tree now.
	src_sum=$(cd "$repo" && git ls-files -z kiosk mediaseal durable media pyproject.toml README.md |
		xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
	if [ "$(cat "$root$app/.src-installed" 2>/dev/null)" != "$src_sum" ]; then
		log "installing the kiosk package (--no-deps)"
		rm -rf "$root$app/src"
		mkdir -p "$root$app/src"
		(cd "$repo" && git ls-files -z kiosk mediaseal durable media pyproject.toml README.md LICENSE* |
			tar --null -T - -cf -) | tar -C "$root$app/src" -xf -
		in_root "$app/venv/bin/pip" install -q --no-deps --no-build-isolation "$app/src"
		echo "$src_sum" >"$root$app/.src-installed"
	fi
}

# Passes when the selftest ran to its end on arm64 and recorded: the kiosk installs and works on
# the Pi's architecture. Camera speed, microphone and the recorder's speed cannot pass here (no
# sound card in the root, and emulation is many times slower than a Pi), so they are shown only.
run_selftest() {
	mkdir -p "$root$app/data"
	cat >"$root$app/kiosk.toml" <<TOML
data_dir = "$app/data"
question_set = "$app/src/media"
[camera]
source = "$app/src/media/sample/camera.mp4"
TOML
	log "python -m kiosk selftest (arm64: $(in_root uname -m))"
	local out=$root$app/selftest.out status=0
	in_root "$app/venv/bin/python" -m kiosk selftest --config "$app/kiosk.toml" 2>&1 | tee "$out" || status=$?
	log "selftest exit status $status"
	for part in camera microphone encoder disk recorder; do
		if ! grep -q "^$part " "$out"; then
			log "FAILED: the selftest did not report on the $part"
			return 1
		fi
	done
	if ! grep -q '^encoder    OK' "$out"; then
		log "FAILED: no recording was made on arm64"
		return 1
	fi
	log "the kiosk installs and records on arm64"
}

started=$(date +%s)
host_tools
build_root
enter
install_kiosk
status=0
run_selftest || status=$?
log "done in $(($(date +%s) - started)) s"
exit $status
