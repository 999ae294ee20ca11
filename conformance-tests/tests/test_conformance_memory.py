"""pitstop's in-memory saver and store pass the whole suite (this is also the usage example)."""

from pitstop.conformance import conformance_tests
from pitstop.conformance.memory import saver, store

TestInMemory = conformance_tests(saver=saver, store=store)
