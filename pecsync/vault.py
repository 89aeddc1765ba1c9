"""Credential vault: passwords encrypted at rest with AES-256-GCM, key kept outside the database.

The key is 32 random bytes, given base64-encoded in ``PECSYNC_KEY`` or stored in a key file
(``[state] key_file``) created with mode 0600 by ``pecsync init-key``; a key file that
others can read is refused.  Each ciphertext is ``version byte | 12-byte nonce | GCM
ciphertext+tag``; the associated data binds it to its row (mailbox, side, version), so a
ciphertext copied onto another row does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pecsync.errors import ConfigError, PecsyncError
from pecsync.model import Secret

KEY_ENV = "PECSYNC_KEY"
_FORMAT = b"\x01"


class VaultError(PecsyncError):
    """The stored credentials cannot be decrypted (wrong key?)."""

    kind = "vault"


def new_key() -> str:
    """A fresh key, base64 text."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


def _decode_key(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where}: not a base64 key (create one with `pecsync init-key`)"
                          ) from None
    if len(key) != 32:
        raise ConfigError(f"{where}: the key must be 32 bytes (base64 of 44 characters)")
    return key


def write_key_file(path: Path) -> None:
    """Create *path* with a new key, mode 0600; never overwrite an existing key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path}: key file already exists; refusing to overwrite it "
                          f"(use `pecsync rotate-key` to change keys)") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(new_key() + "\n")


def load_key(key_file: Path | None) -> bytes:
    """The vault key from ``$PECSYNC_KEY``, else from *key_file*."""
    env = os.environ.get(KEY_ENV)
    if env:
        return _decode_key(env, f"${KEY_ENV}")
    if key_file is None:
        raise ConfigError(f"no encryption key for stored passwords: set ${KEY_ENV} or "
                          f"[state] key_file (create it with `pecsync init-key`)")
    try:
        st = key_file.stat()
    except FileNotFoundError:
        raise ConfigError(f"{key_file}: key file not found (create it with "
                          f"`pecsync init-key --config FILE`)") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{key_file}: key file is readable by others (mode "
                          f"{stat.S_IMODE(st.st_mode):04o}); run `chmod 600 {key_file}`")
    return _decode_key(key_file.read_text("utf-8"), str(key_file))


class Vault:
    """Encrypt and decrypt passwords bound to a context string."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        self._derive_key = key
        # Keys for other purposes are derived, never the encryption key itself.
        self._mac_key = self.derive("pecsync/fingerprint/v1")

    def derive(self, label: str) -> bytes:
        """A 32-byte key for *label* (e.g. the web server's form signing), derived from the
        vault key: every process holding the key agrees on it, and it says nothing about
        the vault key."""
        return hmac.new(self._derive_key, b"pecsync/derive\0" + label.encode("utf-8"),
                        hashlib.sha256).digest()

    def fingerprint(self, secret: Secret, context: str) -> str:
        """Tells whether a password changed without keeping it: HMAC-SHA256 of *secret* bound
        to *context*, under a key derived from the vault key (hex text)."""
        return hmac.new(self._mac_key, context.encode("utf-8") + b"\0"
                        + secret.reveal().encode("utf-8"), hashlib.sha256).hexdigest()

    def seal(self, secret: Secret, context: str) -> bytes:
        nonce = os.urandom(12)
        return _FORMAT + nonce + self._aead.encrypt(nonce, secret.reveal().encode("utf-8"),
                                                    context.encode("utf-8"))

    def open(self, blob: bytes, context: str) -> Secret:
        if not blob or blob[:1] != _FORMAT or len(blob) < 13 + 16:
            raise VaultError("stored credential has an unknown format")
        try:
            plain = self._aead.decrypt(blob[1:13], blob[13:], context.encode("utf-8"))
        except InvalidTag:
            raise VaultError("cannot decrypt stored credentials: wrong key",
                             hint=f"use the key the credentials were stored with (${KEY_ENV} "
                                  f"or [state] key_file)") from None
        return Secret(plain.decode("utf-8"))


def credential_context(job_id: int, side: str, version: int) -> str:
    """Associated data binding a ciphertext to its credential row."""
    return f"pecsync/credential/{job_id}/{side}/{version}"
