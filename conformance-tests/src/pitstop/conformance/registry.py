"""The registry of specs: every check the suite knows, tagged with its capability."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

__all__ = ["SPECS", "Spec", "saver_spec", "store_spec"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Spec:
    """One check.

    Attributes:
        name: ``group.check`` (stable; used in test ids and ``--only``).
        capability: the capability it proves (a failure fails that capability).
        kind: ``saver`` specs take a :class:`~pitstop.conformance.driver.SaverDriver`;
            ``store`` specs a :class:`~pitstop.conformance.suite.StoreHarness`.
        contract: checklist ids of ``langgraph-contract.md`` §8 it covers.
        parity: whether the sync and async runs must produce identical transcripts.
        fn: the check itself.
    """

    name: str
    capability: str
    kind: Literal["saver", "store"]
    contract: tuple[str, ...]
    parity: bool
    fn: Callable[[Any], None]


SPECS: dict[str, Spec] = {}


def _register(
    kind: Literal["saver", "store"], capability: str, contract: tuple[str, ...], parity: bool
) -> Callable[[F], F]:
    def decorate(fn: F) -> F:
        module = fn.__module__.rsplit(".", 1)[-1]
        name = f"{module}.{fn.__name__.removeprefix('spec_')}"
        if name in SPECS:
            raise ValueError(f"duplicate spec {name}")
        SPECS[name] = Spec(name, capability, kind, contract, parity, fn)
        return fn

    return decorate


def saver_spec(capability: str, *contract: str, parity: bool = True) -> Callable[[F], F]:
    """Register a saver check ``fn(d: SaverDriver) -> None``."""
    return _register("saver", capability, contract, parity)


def store_spec(capability: str, *contract: str, parity: bool = True) -> Callable[[F], F]:
    """Register a store check ``fn(h: StoreHarness) -> None``."""
    return _register("store", capability, contract, parity)
