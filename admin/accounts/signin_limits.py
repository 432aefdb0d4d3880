"""Wrong passwords counted per (e-mail, client address) and per client address.

Keyed by the e-mail as typed, whether or not an account has it, so a refusal says nothing about
which accounts exist; the e-mail is hashed so the rate-limit storage holds no addresses of people.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from admin import ratelimits

# One person mistyping their own password a few times is not slowed; a guesser at one address is.
PER_ACCOUNT_AND_ADDRESS = "5 per 15 minutes"
# Trying a few passwords on many e-mails from one address (spraying).
PER_ADDRESS = "20 per 15 minutes"


@dataclass(frozen=True)
class Waits:
    """Seconds before another try counts; 0: now."""

    account_at_address: int
    address: int


def _account_key(email: str, address: str) -> tuple[str, ...]:
    return ("signin-failed", hashlib.sha256(email.encode()).hexdigest()[:32], address)


def _address_key(address: str) -> tuple[str, ...]:
    return ("signin-failed-address", address)


def waiting(email: str, address: str) -> Waits:
    return Waits(
        ratelimits.waiting(ratelimits.parse_limit(PER_ACCOUNT_AND_ADDRESS), *_account_key(email, address)),
        ratelimits.waiting(ratelimits.parse_limit(PER_ADDRESS), *_address_key(address)),
    )


def failed(email: str, address: str) -> None:
    ratelimits.hit(ratelimits.parse_limit(PER_ACCOUNT_AND_ADDRESS), *_account_key(email, address))
    ratelimits.hit(ratelimits.parse_limit(PER_ADDRESS), *_address_key(address))
