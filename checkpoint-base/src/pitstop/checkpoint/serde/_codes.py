"""msgpack extension type codes.

Codes 0-7 are LangGraph's (``langgraph.checkpoint.serde.jsonplus``), with the same payload
layouts, so data written by either library's ``"msgpack"`` serializer decodes in pitstop.
Codes 16 and up are pitstop's own, for values LangGraph cannot round-trip; LangGraph does not
know them (it decodes an unknown code to ``None``).
"""

from __future__ import annotations

from typing import Final

# --- LangGraph-compatible (payload is itself msgpack) ---
EXT_CONSTRUCTOR_SINGLE_ARG: Final = 0  # [module, name, arg]
EXT_CONSTRUCTOR_POS_ARGS: Final = 1  # [module, name, [args...]]
EXT_CONSTRUCTOR_KW_ARGS: Final = 2  # [module, name, {kwargs}]
EXT_METHOD_SINGLE_ARG: Final = 3  # [module, name, arg, method]; only datetime.fromisoformat
EXT_PYDANTIC_V1: Final = 4  # [module, name, obj.dict()]
EXT_PYDANTIC_V2: Final = 5  # [module, name, obj.model_dump(), "model_validate_json"]
EXT_NUMPY_ARRAY: Final = 6  # [dtype.str, shape, order, buffer]
EXT_DELTA_SNAPSHOT: Final = 7  # packed inner value

# Extension values nest (a message inside a dataclass inside a tuple ...). Both directions
# refuse more than this many levels: msgpack's C unpacker keeps ~40 KB of state on the C stack
# per nested call, so unbounded nesting in a crafted payload could crash the process.
MAX_NESTING: Final = 100

# --- pitstop's own ---
EXT_TUPLE: Final = 16  # packed list of the items
EXT_BIGINT: Final = 17  # raw two's-complement big-endian bytes (not msgpack)
EXT_EXCEPTION: Final = 18  # [module, qualname, [args...], str(exc)]
EXT_DATETIME_TZ: Final = 19  # [naive isoformat, tzinfo, fold]: ZoneInfo, named tz or fold=1
EXT_DEQUE: Final = 20  # [[items...], maxlen], for deques with a maxlen
EXT_BYTEARRAY: Final = 21  # raw bytes (not msgpack), for a bytearray nested in a value
EXT_COMPLEX: Final = 22  # [real, imag]
