"""Long-term memory store: data model, operations and the :class:`BaseStore` protocol.

Works without LangGraph installed. When LangGraph *is* installed, :class:`BaseStore` subclasses
``langgraph.store.base.BaseStore`` (so ``StateGraph.compile(store=...)`` accepts any pitstop
store) and overrides every public method of it, so no LangGraph code runs on a pitstop store.
``batch``/``abatch`` accept LangGraph's op tuples as well as pitstop's; items returned are
pitstop's :class:`Item`/:class:`SearchItem` (same attributes).

A store implements ``batch`` and ``abatch``; ``get``/``search``/``put``/``delete``/
``list_namespaces`` and their ``a*`` twins come from the ``StoreAPI`` mixins (written once in
``_api_async.py``, sync twin generated). Namespace rules, filter semantics, namespace
matching, embedding paths and TTL arithmetic live in shared modules every backend reuses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from pitstop.store.base import _api, _api_async
from pitstop.store.base._match import (
    FILTER_OPERATORS,
    filter_namespaces,
    has_prefix,
    json_equal,
    literal_prefix,
    matches_filter,
    namespace_matches,
    rank_page,
    validate_filter,
)
from pitstop.store.base._shared import (
    ensure_refresh,
    ensure_ttl,
    expires_at,
    is_expired,
    normalize_op,
    normalize_ops,
    validate_namespace,
    validate_namespace_labels,
    validate_op_namespace,
    validate_ttl,
)
from pitstop.store.base._types import (
    NOT_PROVIDED,
    GetOp,
    IndexConfig,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    NamespaceMatchType,
    NamespacePath,
    NotProvided,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
)
from pitstop.store.base.embed import (
    AEmbeddingsFunc,
    Embeddings,
    EmbeddingsAdapter,
    EmbeddingsFunc,
    cosine_similarity,
    ensure_embeddings,
    extract_texts,
    get_text_at_path,
    tokenize_fields,
    tokenize_path,
)

if TYPE_CHECKING:
    _StoreBase: TypeAlias = object
else:  # pragma: no branch - depends on the environment
    try:
        from langgraph.store.base import BaseStore as _StoreBase
    except ImportError:  # LangGraph is optional
        _StoreBase = object

__all__ = [
    "FILTER_OPERATORS",
    "NOT_PROVIDED",
    "AEmbeddingsFunc",
    "BaseStore",
    "Embeddings",
    "EmbeddingsAdapter",
    "EmbeddingsFunc",
    "GetOp",
    "IndexConfig",
    "InvalidNamespaceError",
    "Item",
    "ListNamespacesOp",
    "MatchCondition",
    "NamespaceMatchType",
    "NamespacePath",
    "NotProvided",
    "Op",
    "PutOp",
    "Result",
    "SearchItem",
    "SearchOp",
    "TTLConfig",
    "cosine_similarity",
    "ensure_embeddings",
    "ensure_refresh",
    "ensure_ttl",
    "expires_at",
    "extract_texts",
    "filter_namespaces",
    "get_text_at_path",
    "has_prefix",
    "is_expired",
    "json_equal",
    "literal_prefix",
    "matches_filter",
    "namespace_matches",
    "normalize_op",
    "normalize_ops",
    "rank_page",
    "tokenize_fields",
    "tokenize_path",
    "validate_filter",
    "validate_namespace",
    "validate_namespace_labels",
    "validate_op_namespace",
    "validate_ttl",
]


class BaseStore(_api.StoreAPI, _api_async.StoreAPI, _StoreBase):
    """Base class of every pitstop store: implement ``batch`` and ``abatch``.

    Attributes:
        supports_ttl: whether ``put(..., ttl=...)`` is accepted (else ``NotImplementedError``).
        ttl_config: the store's :class:`TTLConfig`, or ``None``.
    """

    supports_ttl: bool = False
    ttl_config: TTLConfig | None = None
