"""The server's sealing keys: kiosks seal recordings to the public key, only the server opens them.

The format is in :mod:`mediaseal`. Here: where the private keys live and how they change.

* One file, ``KIOSK_SEALING_KEY_FILE`` (default ``<instance>/kiosk-sealing.key``), mode 0600,
  one key per line (``<key id hex> <base64 private key>``), the newest first. The newest is the
  one kiosks are told to seal to; older ones stay so that recordings sealed before a rotation
  (still on a kiosk, or half uploaded) open. One file is one thing to back up: losing it makes
  every sealed recording that has not arrived yet unreadable for good.
* Made on first use (the first enrollment answer or ``GET /config``), or beforehand with
  ``flask --app admin keys init``; ``keys rotate`` puts a new key in front, ``keys retire ID``
  drops an old one once no kiosk can still hold recordings sealed to it.
* The file is re-read on every use (it is tiny), so every gunicorn worker sees a rotation at
  once. Private keys are never logged or shown; the CLI prints only key ids and public keys.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import click
import nacl.exceptions
from flask import Flask, current_app
from flask.cli import with_appcontext
from nacl.public import PrivateKey

import mediaseal
from durable import write_atomically

KEY_FILE_NAME = "kiosk-sealing.key"
_COMMENT = (
    "# Vertelpaal: private keys that open the recordings kiosks seal (newest first). Keep secret,\n"
    "# keep backed up: without them, sealed recordings not yet stored cannot be opened.\n"
)


class SealingKeyError(RuntimeError):
    """The key file is missing, unreadable, too open or damaged; the message says what to do."""


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[PrivateKey, ...]  # newest first

    @property
    def current(self) -> PrivateKey:
        return self.keys[0]

    @property
    def by_id(self) -> dict[bytes, PrivateKey]:
        return {mediaseal.key_id(bytes(k.public_key)): k for k in self.keys}

    def public_document(self) -> dict[str, str]:
        """What kiosks are given: the current public key and its id."""
        public = bytes(self.current.public_key)
        return {
            "id": mediaseal.key_id(public).hex(),
            "public_key": mediaseal.encode_key(public),
            "algorithm": "x25519-xsalsa20poly1305",
        }


def key_file() -> Path:
    configured = current_app.config.get("KIOSK_SEALING_KEY_FILE")
    return Path(configured) if configured else Path(current_app.instance_path) / KEY_FILE_NAME


def load(path: Path) -> KeyRing:
    """The keys in ``path``; raises SealingKeyError (also when the file is missing)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError as exc:
        raise SealingKeyError(f"the sealing key file {path} does not exist") from exc
    with os.fdopen(fd, "r", encoding="ascii") as file:
        mode = os.fstat(file.fileno()).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SealingKeyError(
                f"the sealing key file {path} may be read by others (mode {stat.filemode(mode)}); "
                f"run: chmod 600 {path}"
            )
        text = file.read()
    keys: list[PrivateKey] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            listed_id, encoded = line.split()
            key = PrivateKey(mediaseal.decode_key(encoded))
        except (ValueError, mediaseal.SealError, nacl.exceptions.CryptoError) as exc:
            raise SealingKeyError(f"{path}, line {number}: not '<key id> <base64 private key>'") from exc
        if mediaseal.key_id(bytes(key.public_key)).hex() != listed_id:
            raise SealingKeyError(f"{path}, line {number}: the key id does not belong to the key")
        keys.append(key)
    if not keys:
        raise SealingKeyError(f"the sealing key file {path} holds no key")
    return KeyRing(tuple(keys))


def ensure(path: Path) -> KeyRing:
    """The keys, making a first key if there is no file yet (safe when two workers race)."""
    with contextlib.suppress(SealingKeyError):
        return load(path)
    if path.exists():
        return load(path)  # damaged or too open: say so rather than replace it
    _write(path, (PrivateKey.generate(),), replace=False)
    return load(path)  # the winner's key if another worker was first


def rotate(path: Path) -> KeyRing:
    ring = load(path)
    _write(path, (PrivateKey.generate(), *ring.keys), replace=True)
    return load(path)


def retire(path: Path, key_id_hex: str) -> KeyRing:
    ring = load(path)
    kept = tuple(k for k in ring.keys if mediaseal.key_id(bytes(k.public_key)).hex() != key_id_hex)
    if len(kept) == len(ring.keys):
        raise SealingKeyError(f"there is no key {key_id_hex} in {path}")
    if ring.current not in kept:
        raise SealingKeyError("the current key cannot be retired; rotate first")
    _write(path, kept, replace=True)
    return load(path)


def _write(path: Path, keys: tuple[PrivateKey, ...], *, replace: bool) -> None:
    """Write the whole file to a temporary name (0600, fsynced), then move it in place.

    ``replace=False`` links instead of renaming, so a file another worker made meanwhile wins.
    """
    lines = [_COMMENT]
    for key in keys:
        public = bytes(key.public_key)
        lines.append(f"{mediaseal.key_id(public).hex()} {mediaseal.encode_key(bytes(key))}\n")
    write_atomically(path, "".join(lines).encode("ascii"), 0o600, replace=replace)


def current_keys() -> KeyRing:
    """The app's keys, made on first use."""
    return ensure(key_file())


# --- flask --app admin keys ... ---------------------------------------------------------------


@click.group(help="The keys that open recordings kiosks seal.")
def keys() -> None:
    pass


def _echo(ring: KeyRing, path: Path) -> None:
    click.echo(f"{path}:")
    for index, key in enumerate(ring.keys):
        public = bytes(key.public_key)
        role = "current" if index == 0 else "old"
        click.echo(f"  {mediaseal.key_id(public).hex()}  {role:7}  public {mediaseal.encode_key(public)}")


def _run(action: str, key_id_hex: str | None = None) -> None:
    path = key_file()
    try:
        if action == "init":
            existed = path.exists()
            ring = ensure(path)
            click.echo("The key file was already there." if existed else "A new key file was made.")
        elif action == "rotate":
            ring = rotate(path)
        elif action == "retire":
            assert key_id_hex is not None
            ring = retire(path, key_id_hex.lower())
        else:
            ring = load(path)
    except SealingKeyError as error:
        raise click.ClickException(str(error)) from error
    _echo(ring, path)


@keys.command("init")
@with_appcontext
def init_command() -> None:
    """Make the key file (KIOSK_SEALING_KEY_FILE) unless it exists."""
    _run("init")


@keys.command("show")
@with_appcontext
def show_command() -> None:
    """List the key ids and public keys (never the private keys)."""
    _run("show")


@keys.command("rotate")
@with_appcontext
def rotate_command() -> None:
    """Make a new current key; kiosks pick it up with their next configuration."""
    _run("rotate")


@keys.command("retire")
@click.argument("key_id")
@with_appcontext
def retire_command(key_id: str) -> None:
    """Drop an old key: recordings still sealed to it can never be opened after this."""
    _run("retire", key_id)


def init_app(app: Flask) -> None:
    app.cli.add_command(keys)
