"""The packaged specs; importing this package registers them all in registry order."""

from pitstop.conformance.specs import (
    concurrency,
    durability,
    graphs,
    growth,
    listing,
    maintenance,
    processes,
    put,
    store,
    values,
    writes,
)

__all__ = [
    "concurrency",
    "durability",
    "graphs",
    "growth",
    "listing",
    "maintenance",
    "processes",
    "put",
    "store",
    "values",
    "writes",
]
