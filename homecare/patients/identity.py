"""Mainland resident identity numbers: validation, encryption at rest, keyed digest."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import date

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# GB 11643-1999: the 18th character is an ISO 7064 MOD 11-2 check over the first 17.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
# The first two digits are a province-level division (GB/T 2260); anything else
# is a typo, not a person.
PROVINCES = frozenset({"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34",
                       "35", "36", "37", "41", "42", "43", "44", "45", "46", "50", "51", "52",
                       "53", "54", "61", "62", "63", "64", "65", "71", "81", "82"})


def check_character(first17: str) -> str:
    """The check character for the first 17 digits of an identity number."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def normalize(id_number: str) -> str:
    return id_number.strip().upper()


def birth_date_of(id_number: str) -> date | None:
    """The birth date encoded in positions 7-14, or None if it is not a real date."""
    try:
        return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return None


def id_number_problems(id_number: str, *, today: date) -> list[str]:
    """Why ``id_number`` (normalized) is not a valid 18-character identity number."""
    if len(id_number) != 18 or not (id_number[:17].isascii() and id_number[:17].isdigit()) or \
            id_number[17] not in "0123456789X":
        return ["must be 18 characters: 17 digits and a digit or X"]
    problems = []
    if id_number[:2] not in PROVINCES:
        problems.append("does not start with a province code")
    born = birth_date_of(id_number)
    if born is None or born.year < 1900 or born > today:
        problems.append("does not contain a valid birth date")
    if check_character(id_number[:17]) != id_number[17]:
        problems.append("check digit does not match")
    return problems


def _raw_key(data_key: str) -> bytes:
    return base64.urlsafe_b64decode(data_key.encode())


def encrypt_id_number(data_key: str, id_number: str) -> str:
    """Fernet ciphertext of the identity number (authenticated, randomised)."""
    return Fernet(data_key.encode()).encrypt(id_number.encode()).decode()


def decrypt_id_number(data_key: str, token: str) -> str | None:
    """The identity number, or None when ``token`` was not made with this key."""
    try:
        return Fernet(data_key.encode()).decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        return None


def id_number_digest(data_key: str, id_number: str) -> str:
    """A keyed digest for uniqueness checks.

    Keyed (HMAC), because an identity number has little entropy (region, birth
    date, a 3-digit sequence): a bare SHA-256 of every plausible number is a
    quick brute force. The HMAC key is derived from the data key so that one
    secret is configured, and is separate from the encryption key.
    """
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"homecare id_number digest v1").derive(_raw_key(data_key))
    return hmac.new(key, id_number.encode(), hashlib.sha256).hexdigest()


def make_id_number(region: str, born: date, sequence: int) -> str:
    """A well-formed synthetic identity number (demo data and tests, never real people).

    ``region`` is a 6-digit area code, ``sequence`` 0-999 (odd: male, even: female).
    """
    first17 = f"{region}{born:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)
