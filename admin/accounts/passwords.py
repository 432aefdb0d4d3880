"""Password hashes at the cost the app's ``PASSWORD_HASH_PARAMETERS`` names.

Production keeps argon2-cffi's own defaults (RFC 9106's low-memory profile); only the tests lower the
cost, as nothing there guards a real password and every fixture user would otherwise cost ~0.5 s.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import astuple
from functools import cache
from typing import Any

from argon2 import Parameters, PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


def _parameters() -> Parameters:
    parameters: Parameters = current_app.config["PASSWORD_HASH_PARAMETERS"]
    return parameters


def _hasher() -> PasswordHasher:
    return _hasher_for(astuple(_parameters()))


@cache
def _hasher_for(parameters: tuple[Any, ...]) -> PasswordHasher:  # astuple(): Parameters is unhashable
    return PasswordHasher.from_parameters(Parameters(*parameters))


def dummy_hash() -> str:
    """A hash no password matches, verified against when an e-mail is unknown so that both cases
    take the same time; at the same cost as real ones."""
    return _dummy_hash(astuple(_parameters()))


@cache
def _dummy_hash(parameters: tuple[Any, ...]) -> str:
    # Written out rather than hashed: verifying costs the same either way, and hashing a dummy would
    # cost every process (each CLI call, each worker) a full hash at start-up.
    def b64(size: int) -> str:
        return base64.b64encode(secrets.token_bytes(size)).decode().rstrip("=")

    p = Parameters(*parameters)
    return (
        f"$argon2{p.type.name.lower()}$v={p.version}$m={p.memory_cost},t={p.time_cost},p={p.parallelism}"
        f"${b64(p.salt_len)}${b64(p.hash_len)}"
    )
