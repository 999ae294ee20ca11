"""``EncryptedSerializer``: AES-GCM encryption around another serializer.

Stored layout: tag ``f"{inner_tag}+aesgcm"``, payload ``nonce (12 random bytes) ‖ ciphertext ‖
GCM tag (16 bytes)``. The inner tag is bound to the ciphertext as associated data, so a stored
tag cannot be swapped without failing authentication.

Keys (argument ``key`` or env ``PITSTOP_AES_KEY``): ``bytes`` are used raw and must be 16, 24 or
32 bytes long (AES-128/192/256); text is read as hex (32, 48 or 64 hex digits) or, failing
that, base64 (standard or URL-safe alphabet, padding optional) decoding to 16/24/32 bytes.
Generate one with ``python -c "import secrets; print(secrets.token_hex(32))"``.

Needs the ``cryptography`` package (``pip install 'pitstop-checkpoint[crypto]'``), imported
only when an ``EncryptedSerializer`` is created.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Collection
from typing import Any

from pitstop.checkpoint.errors import DecryptionError, InvalidArgumentError
from pitstop.checkpoint.serde._serializer import MsgpackSerializer
from pitstop.checkpoint.serde.base import SerializerProtocol

__all__ = ["EncryptedSerializer", "parse_key"]

CIPHER_SUFFIX = "+aesgcm"
NONCE_SIZE = 12
TAG_SIZE = 16
KEY_ENV = "PITSTOP_AES_KEY"
_KEY_SIZES = (16, 24, 32)
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def parse_key(key: bytes | str) -> bytes:
    """Turn a raw, hex or base64 key into 16, 24 or 32 key bytes.

    Raises:
        InvalidArgumentError: the key has the wrong length or encoding.
    """
    if isinstance(key, bytes | bytearray):
        if len(key) in _KEY_SIZES:
            return bytes(key)
        raise InvalidArgumentError(
            f"an AES key given as bytes must be 16, 24 or 32 bytes long, not {len(key)} "
            "(pass hex or base64 key text as a str)"
        )
    if not isinstance(key, str):
        raise InvalidArgumentError(f"an AES key is bytes or str, not {type(key).__name__}")
    text = key.strip()
    if len(text) in (32, 48, 64) and set(text) <= _HEX_DIGITS:
        return bytes.fromhex(text)
    try:
        raw = base64.b64decode(
            text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True
        )
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) in _KEY_SIZES:
        return raw
    raise InvalidArgumentError(
        "an AES key given as text must be hex (32/48/64 digits) or base64 of 16/24/32 bytes"
    )


class EncryptedSerializer:
    """Encrypts what another serializer produces with AES-GCM (see the module docstring).

    Args:
        inner: the serializer whose output is encrypted (default: ``MsgpackSerializer()``).
        key: AES key; default env ``PITSTOP_AES_KEY``.
        allow_plaintext: also load values stored without encryption (tags without
            ``+aesgcm``), e.g. rows written before encryption was turned on. Off by default:
            an unencrypted row is then a :class:`~pitstop.checkpoint.errors.DecryptionError`.

    Raises:
        ImportError: ``cryptography`` is not installed.
        InvalidArgumentError: no key was given, or it is malformed.
    """

    def __init__(
        self,
        inner: SerializerProtocol | None = None,
        *,
        key: bytes | str | None = None,
        allow_plaintext: bool = False,
    ) -> None:
        try:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError as exc:
            raise ImportError(
                "EncryptedSerializer needs the 'cryptography' package: "
                "pip install 'pitstop-checkpoint[crypto]'"
            ) from exc
        if key is None:
            key = os.environ.get(KEY_ENV)
            if not key:
                raise InvalidArgumentError(
                    f"EncryptedSerializer needs a key: pass key=... or set {KEY_ENV}"
                )
        self._key = parse_key(key)
        self._aead = AESGCM(self._key)
        self.inner: SerializerProtocol = MsgpackSerializer() if inner is None else inner
        self.allow_plaintext = allow_plaintext

    def __deepcopy__(self, memo: dict[int, Any]) -> EncryptedSerializer:
        return self  # immutable; the AES key object cannot be copied anyway

    def __repr__(self) -> str:
        return (
            f"EncryptedSerializer({self.inner!r}, aes{len(self._key) * 8}-gcm, "
            f"allow_plaintext={self.allow_plaintext})"
        )

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        """Serialize with the inner serializer, then encrypt: ``(f"{tag}+aesgcm", payload)``."""
        tag, plaintext = self.inner.dumps_typed(obj)
        nonce = os.urandom(NONCE_SIZE)
        sealed = self._aead.encrypt(nonce, plaintext, tag.encode())
        return f"{tag}{CIPHER_SUFFIX}", nonce + sealed

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        """Decrypt and load a value stored by :meth:`dumps_typed`.

        Raises:
            DecryptionError: wrong key, tampered or truncated data, another cipher, or an
                unencrypted value while ``allow_plaintext`` is off.
        """
        tag, payload = data
        if not tag.endswith(CIPHER_SUFFIX):
            if "+" in tag:
                raise DecryptionError(
                    f"value is encrypted with an unsupported cipher ({tag.partition('+')[2]!r}); "
                    f"pitstop reads {CIPHER_SUFFIX[1:]!r}"
                )
            if self.allow_plaintext:
                return self.inner.loads_typed(data)
            raise DecryptionError(
                f"value is not encrypted (type tag {tag!r}); "
                "pass allow_plaintext=True to read rows stored before encryption"
            )
        inner_tag = tag[: -len(CIPHER_SUFFIX)]
        from cryptography.exceptions import InvalidTag

        blob = bytes(payload)
        if len(blob) < NONCE_SIZE + TAG_SIZE:
            raise DecryptionError("encrypted value is truncated")
        try:
            plaintext = self._aead.decrypt(blob[:NONCE_SIZE], blob[NONCE_SIZE:], inner_tag.encode())
        except InvalidTag as exc:
            raise DecryptionError(
                "could not decrypt value: wrong key, or the data was tampered with"
            ) from exc
        return self.inner.loads_typed((inner_tag, plaintext))

    def with_allowlist(self, extra: Collection[tuple[str, ...] | type]) -> EncryptedSerializer:
        """Return a copy whose inner serializer also allows ``extra`` (``self`` if unchanged)."""
        method = getattr(self.inner, "with_allowlist", None)
        if method is None:
            return self
        inner = method(extra)
        if inner is self.inner:
            return self
        clone = object.__new__(EncryptedSerializer)
        clone.__dict__.update(self.__dict__)
        clone.inner = inner
        return clone

    with_msgpack_allowlist = with_allowlist
