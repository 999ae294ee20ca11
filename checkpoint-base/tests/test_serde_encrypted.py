"""EncryptedSerializer: AES-GCM around another serializer."""

from __future__ import annotations

import base64
import copy
import dataclasses
from typing import Any

import pytest

pytest.importorskip("cryptography")

from pitstop.checkpoint.errors import DecryptionError, InvalidArgumentError, RefusedTypeError
from pitstop.checkpoint.serde import EncryptedSerializer, MsgpackSerializer, SerializerProtocol
from pitstop.checkpoint.serde.encrypted import parse_key

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


@dataclasses.dataclass
class Secret:
    text: str


@pytest.fixture
def serde() -> EncryptedSerializer:
    return EncryptedSerializer(key=KEY)


@pytest.mark.parametrize(
    ("value", "inner_tag"),
    [
        ({"messages": ["hi"], "step": (1, 2)}, "msgpack"),
        (None, "null"),
        (b"raw", "bytes"),
        (bytearray(b"raw"), "bytearray"),
    ],
)
def test_roundtrip_and_tag(serde: EncryptedSerializer, value: Any, inner_tag: str) -> None:
    tag, data = serde.dumps_typed(value)
    assert tag == f"{inner_tag}+aesgcm"
    loaded = serde.loads_typed((tag, data))
    assert loaded == value
    assert type(loaded) is type(value)


def test_ciphertext_hides_the_plaintext(serde: EncryptedSerializer) -> None:
    _, plaintext = MsgpackSerializer().dumps_typed({"password": "hunter2"})
    _, data = serde.dumps_typed({"password": "hunter2"})
    assert b"hunter2" not in data
    assert len(data) == 12 + len(plaintext) + 16
    # a fresh nonce each time
    assert serde.dumps_typed({"password": "hunter2"})[1] != data


def test_wrong_key_fails(serde: EncryptedSerializer) -> None:
    stored = serde.dumps_typed({"a": 1})
    with pytest.raises(DecryptionError, match="wrong key"):
        EncryptedSerializer(key=OTHER_KEY).loads_typed(stored)


@pytest.mark.parametrize("position", [0, 11, 12, -1])
def test_tampered_data_fails(serde: EncryptedSerializer, position: int) -> None:
    tag, data = serde.dumps_typed({"a": 1})
    tampered = bytearray(data)
    tampered[position] ^= 0x01
    with pytest.raises(DecryptionError):
        serde.loads_typed((tag, bytes(tampered)))


def test_truncated_data_fails(serde: EncryptedSerializer) -> None:
    tag, data = serde.dumps_typed({"a": 1})
    for end in (0, 5, 27, len(data) - 1):
        with pytest.raises(DecryptionError):
            serde.loads_typed((tag, data[:end]))


def test_swapped_tag_fails(serde: EncryptedSerializer) -> None:
    # The inner tag is authenticated: relabelling msgpack data as bytes is detected.
    _, data = serde.dumps_typed({"a": 1})
    with pytest.raises(DecryptionError):
        serde.loads_typed(("bytes+aesgcm", data))


def test_plaintext_is_refused_by_default(serde: EncryptedSerializer) -> None:
    stored = MsgpackSerializer().dumps_typed({"a": 1})
    with pytest.raises(DecryptionError, match="not encrypted"):
        serde.loads_typed(stored)


def test_plaintext_is_read_when_allowed() -> None:
    serde = EncryptedSerializer(key=KEY, allow_plaintext=True)
    assert serde.loads_typed(MsgpackSerializer().dumps_typed({"a": (1,)})) == {"a": (1,)}
    assert serde.loads_typed(("null", b"")) is None
    # new writes are still encrypted
    assert serde.dumps_typed(1)[0] == "msgpack+aesgcm"


@pytest.mark.parametrize("allow_plaintext", [False, True])
def test_other_ciphers_are_refused(allow_plaintext: bool) -> None:
    serde = EncryptedSerializer(key=KEY, allow_plaintext=allow_plaintext)
    with pytest.raises(DecryptionError, match="unsupported cipher"):
        serde.loads_typed(("msgpack+aes", b"\x00" * 40))


@pytest.mark.parametrize(
    "key",
    [
        KEY,
        KEY.hex(),
        KEY.hex().upper(),
        base64.b64encode(KEY).decode(),
        base64.urlsafe_b64encode(KEY).decode().rstrip("="),
        bytes(16),
        bytes(24).hex(),
    ],
    ids=["raw", "hex", "HEX", "base64", "urlsafe-unpadded", "raw-128", "hex-192"],
)
def test_key_formats(key: bytes | str) -> None:
    serde = EncryptedSerializer(key=key)
    assert serde.loads_typed(serde.dumps_typed("x")) == "x"


def test_hex_and_base64_forms_are_the_same_key() -> None:
    stored = EncryptedSerializer(key=KEY).dumps_typed("x")
    assert EncryptedSerializer(key=KEY.hex()).loads_typed(stored) == "x"
    assert EncryptedSerializer(key=base64.b64encode(KEY).decode()).loads_typed(stored) == "x"
    assert parse_key(KEY.hex()) == parse_key(base64.b64encode(KEY).decode()) == KEY


@pytest.mark.parametrize("key", [b"short", bytes(33), "not a key", "ab" * 15, "", 42], ids=repr)
def test_bad_keys(key: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        EncryptedSerializer(key=key)


def test_key_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PITSTOP_AES_KEY", KEY.hex())
    stored = EncryptedSerializer().dumps_typed("x")
    assert EncryptedSerializer(key=KEY).loads_typed(stored) == "x"


def test_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PITSTOP_AES_KEY", raising=False)
    with pytest.raises(InvalidArgumentError, match="PITSTOP_AES_KEY"):
        EncryptedSerializer()


def test_with_allowlist_rewraps_the_inner_serializer() -> None:
    serde = EncryptedSerializer(MsgpackSerializer(strict=True), key=KEY)
    stored = serde.dumps_typed(Secret("s"))
    with pytest.raises(RefusedTypeError):
        serde.loads_typed(stored)
    allowed = serde.with_allowlist([Secret])
    assert allowed is not serde
    assert isinstance(allowed, EncryptedSerializer)
    assert allowed.loads_typed(stored) == Secret("s")
    assert allowed.with_allowlist([Secret]) is allowed
    assert serde.with_msgpack_allowlist([]) is serde


def test_with_allowlist_on_an_inner_serializer_without_it() -> None:
    class Plain:
        def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
            return "str", str(obj).encode()

        def loads_typed(self, data: tuple[str, bytes]) -> Any:
            return data[1].decode()

    serde = EncryptedSerializer(Plain(), key=KEY)
    assert serde.with_allowlist([Secret]) is serde
    assert serde.loads_typed(serde.dumps_typed("v")) == "v"


def test_is_a_serializer(serde: EncryptedSerializer) -> None:
    assert isinstance(serde, SerializerProtocol)
    assert "aes256-gcm" in repr(serde)
    assert "00010203" not in repr(serde)


def test_deepcopy_returns_the_same_serializer(serde: EncryptedSerializer) -> None:
    assert copy.deepcopy(serde) is serde
