"""Encryption of job secrets at rest.

Secrets are encrypted with Fernet (AES-128-CBC with HMAC-SHA256, from the
`cryptography` package) under a key derived from Django's SECRET_KEY with
HKDF. Changing SECRET_KEY therefore makes stored secrets unreadable: their
runs fail with a message that says to set them again.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

# Values shorter than this are not masked in logs: masking "1" would hide
# every digit of the output.
MIN_MASKED_LENGTH = 4
MASK = "********"


class SecretUnreadable(Exception):
    pass


@functools.cache
def _fernet(secret_key: str) -> Fernet:
    derived = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=b"dstack job secrets",
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(value: str) -> str:
    return _fernet(settings.SECRET_KEY).encrypt(value.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet(settings.SECRET_KEY).decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "a secret cannot be decrypted (was the server's secret key changed?): "
            "set it again on the job"
        ) from None


class Masker:
    """Replace secret values in log text with a mask.

    The executor masks whole lines, so a value is masked unless it spans a
    line break or a line longer than the executor's line limit.
    """

    def __init__(self, values: list[str]) -> None:
        self.values = sorted(
            {value for value in values if len(value) >= MIN_MASKED_LENGTH},
            key=len,
            reverse=True,
        )

    def mask(self, text: str) -> str:
        for value in self.values:
            text = text.replace(value, MASK)
        return text
