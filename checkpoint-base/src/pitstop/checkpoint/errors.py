"""The pitstop error tree.

Every error pitstop raises on purpose derives from :class:`PitstopError`. Subclasses exist only for
contract-level failures a caller may want to handle differently; driver errors are translated at the
backend boundary and chained (``raise ... from exc``). Messages name the thread, namespace,
checkpoint and channel involved whenever they are known.
"""

from __future__ import annotations

__all__ = [
    "ConflictError",
    "ConnectionLostError",
    "CorruptRecordError",
    "DecryptionError",
    "DeserializationError",
    "InvalidArgumentError",
    "MigrationError",
    "NotSetUpError",
    "PitstopError",
    "RefusedTypeError",
    "SerializationError",
]


class PitstopError(Exception):
    """Root of every error pitstop raises on purpose."""


class InvalidArgumentError(PitstopError, ValueError):
    """An argument was malformed (a config without ``thread_id``, an unknown strategy, ...)."""


class NotSetUpError(PitstopError):
    """The storage has not been set up (tables, keys) and cannot be used yet."""


class ConnectionLostError(PitstopError, ConnectionError):
    """The connection to the storage server broke during an operation (terminated, restarted).

    The operation may or may not have been applied (every saver write is idempotent, so
    retrying it is safe). Pooled connections that broke are discarded and the next call uses a
    fresh one; a single connection given by the caller stays broken.
    """


class MigrationError(PitstopError):
    """The stored schema cannot be used by this version of pitstop (newer, or half-migrated)."""


class ConflictError(PitstopError):
    """A concurrent writer changed the record this operation depended on."""


def _where(
    *,
    thread_id: str | None = None,
    checkpoint_ns: str | None = None,
    checkpoint_id: str | None = None,
    channel: str | None = None,
    path: str | None = None,
) -> str:
    parts = []
    if thread_id is not None:
        parts.append(f"thread {thread_id!r}")
    if checkpoint_ns:
        parts.append(f"namespace {checkpoint_ns!r}")
    if checkpoint_id is not None:
        parts.append(f"checkpoint {checkpoint_id!r}")
    if channel is not None:
        parts.append(f"channel {channel!r}")
    if path:
        parts.append(f"at {path}")
    return ", ".join(parts)


class SerializationError(PitstopError, TypeError):
    """A value could not be serialized.

    ``path`` locates the offending value inside the serialized object (for example
    ``messages[3].metadata``); ``channel`` is filled in by the saver that was storing it.
    """

    def __init__(
        self,
        reason: str,
        *,
        path: str = "",
        channel: str | None = None,
        thread_id: str | None = None,
        checkpoint_id: str | None = None,
    ) -> None:
        self.reason = reason
        self.path = path
        self.channel = channel
        self.thread_id = thread_id
        self.checkpoint_id = checkpoint_id
        where = _where(
            thread_id=thread_id, checkpoint_id=checkpoint_id, channel=channel, path=path or None
        )
        super().__init__(f"cannot serialize value ({where}): {reason}" if where else reason)

    def with_context(
        self,
        *,
        channel: str | None = None,
        thread_id: str | None = None,
        checkpoint_id: str | None = None,
    ) -> SerializationError:
        """Return a copy of this error that also names where the value was being stored."""
        err = SerializationError(
            self.reason,
            path=self.path,
            channel=channel if channel is not None else self.channel,
            thread_id=thread_id if thread_id is not None else self.thread_id,
            checkpoint_id=checkpoint_id if checkpoint_id is not None else self.checkpoint_id,
        )
        err.__cause__ = self.__cause__
        return err


class DeserializationError(PitstopError, ValueError):
    """A stored value could not be decoded; it is never loaded as ``None``."""

    def __init__(
        self,
        reason: str,
        *,
        thread_id: str | None = None,
        checkpoint_ns: str | None = None,
        checkpoint_id: str | None = None,
        channel: str | None = None,
    ) -> None:
        self.reason = reason
        self.thread_id = thread_id
        self.checkpoint_ns = checkpoint_ns
        self.checkpoint_id = checkpoint_id
        self.channel = channel
        where = _where(
            thread_id=thread_id,
            checkpoint_ns=checkpoint_ns,
            checkpoint_id=checkpoint_id,
            channel=channel,
        )
        super().__init__(f"cannot decode stored value ({where}): {reason}" if where else reason)

    def with_context(
        self,
        *,
        thread_id: str | None = None,
        checkpoint_ns: str | None = None,
        checkpoint_id: str | None = None,
        channel: str | None = None,
    ) -> DeserializationError:
        """Return a copy of this error (same class) that also names the record involved."""
        err = type(self).__new__(type(self))
        DeserializationError.__init__(
            err,
            self.reason,
            thread_id=thread_id if thread_id is not None else self.thread_id,
            checkpoint_ns=checkpoint_ns if checkpoint_ns is not None else self.checkpoint_ns,
            checkpoint_id=checkpoint_id if checkpoint_id is not None else self.checkpoint_id,
            channel=channel if channel is not None else self.channel,
        )
        for attr in ("type_name",):
            if hasattr(self, attr):
                setattr(err, attr, getattr(self, attr))
        err.__cause__ = self.__cause__
        return err


class RefusedTypeError(DeserializationError):
    """A stored payload named a class or callable the serializer's policy does not allow.

    Nothing was imported or called. ``type_name`` is the refused ``module.qualname``.
    """

    def __init__(self, type_name: str, reason: str = "") -> None:
        self.type_name = type_name
        super().__init__(
            f"refused to revive {type_name!r}: {reason or 'not allowed by the serializer policy'}"
        )


class DecryptionError(DeserializationError):
    """An encrypted value could not be decrypted (wrong key, tampered data) or was not encrypted."""


class CorruptRecordError(DeserializationError):
    """A stored record is malformed; the rest of the thread stays readable."""
