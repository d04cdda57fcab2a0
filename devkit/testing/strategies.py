"""Hypothesis strategies generated from docarray schemas, and endpoint fuzzing.

``docs_strategy(MyDoc)`` draws valid ``MyDoc`` instances (str, int, float, bool, Optional,
lists, dicts, nested documents, ``DocList`` and tensors with their declared shape and
dtype); ``doclists(MyDoc, min_size, max_size)`` draws ``DocList[MyDoc]``.
:func:`fuzz_endpoint` posts drawn batches to an endpoint of an Executor (served by a
thread-runtime Deployment), a Deployment or a Flow, and fails with Hypothesis' shrunk
example when a response does not honour the declared response schema.
"""

from __future__ import annotations

import enum
import functools
import types
import typing
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from docarray import BaseDoc, DocList
from docarray.base_doc import AnyDoc
from docarray.typing import AnyTensor, NdArray
from docarray.typing.tensor.abstract_tensor import AbstractTensor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from devkit.testing.contracts_schema import doclist_item, dtype_problems, is_untyped, type_info

if TYPE_CHECKING:
    from devkit.orchestrate.base import Orchestrator

__all__ = ["doclists", "docs_strategy", "fuzz_endpoint", "strategy_for"]

_INT_BOUND = 2**53 - 1  # exactly representable as a JSON number in every decoder
_NESTING = 3
_SIDE = 4  # size of tensor axes that are named rather than fixed


def _text() -> st.SearchStrategy[str]:
    return st.text(st.characters(codec="utf-8"), max_size=12)


def _floats(width: int = 64) -> st.SearchStrategy[float]:
    return st.floats(allow_nan=False, allow_infinity=False, width=width)  # type: ignore[arg-type]


def _json_values() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers(-_INT_BOUND, _INT_BOUND) | _floats() | _text()
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text(), inner, max_size=3),
        max_leaves=6,
    )


def _tensor(annotation: Any, dtype: str | None) -> st.SearchStrategy[Any]:
    if not issubclass(annotation, NdArray):
        if annotation is not AnyTensor:
            raise TypeError(f"only NdArray tensors can be drawn, not {annotation.__name__}")
        annotation = NdArray
    shape = getattr(annotation, "__docarray_target_shape__", None)
    kind = np.dtype(dtype or "float32")
    if kind.kind == "f":
        elements: st.SearchStrategy[Any] = st.floats(-1e6, 1e6, width=min(64, kind.itemsize * 8))  # type: ignore[arg-type]
    elif kind.kind in "iu":
        info = np.iinfo(kind)
        elements = st.integers(max(int(info.min), -(2**31)), min(int(info.max), 2**31 - 1))
    else:
        elements = hnp.from_dtype(kind)
    if shape is None:
        shapes: Any = hnp.array_shapes(min_dims=1, max_dims=2, max_side=_SIDE)
    elif Ellipsis in shape or "..." in shape:
        fixed = tuple(s for s in shape if isinstance(s, int))
        shapes = st.just(fixed or (_SIDE,))
    else:
        shapes = st.just(tuple(s if isinstance(s, int) else _SIDE for s in shape))
    return hnp.arrays(kind, shapes, elements=elements).map(annotation._docarray_from_native)


def strategy_for(annotation: Any, depth: int = 0, dtype: str | None = None) -> st.SearchStrategy[Any]:
    """A strategy for values of one field annotation; raises TypeError for unsupported types."""
    info = type_info(annotation)
    dtype = info.dtype or dtype
    base = info.base
    inner = _strategy_for_base(base, depth, dtype)
    return st.none() | inner if info.nullable else inner


def _strategy_for_base(base: Any, depth: int, dtype: str | None) -> st.SearchStrategy[Any]:
    if base is Any or base is object:
        return _json_values()
    if isinstance(base, type):
        simple = _simple(base, depth, dtype)
        if simple is not None:
            return simple
    if doclist_item(base) is not None:  # DocList[X] as a typing alias
        return _doclists_of(base, depth)
    origin, args = typing.get_origin(base), typing.get_args(base)
    if origin in (list, tuple, set, frozenset, typing.Sequence, typing.AbstractSet):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return st.tuples(*(strategy_for(a, depth + 1) for a in args))
        item = strategy_for(args[0], depth + 1) if args else _json_values()
        drawn = st.lists(item, max_size=0 if depth >= _NESTING else 3)
        return drawn.map(origin) if origin in (tuple, set, frozenset) else drawn
    if origin in (dict, typing.Mapping):
        keys = strategy_for(args[0], depth + 1) if args else _text()
        values = strategy_for(args[1], depth + 1) if len(args) > 1 else _json_values()
        return st.dictionaries(keys, values, max_size=0 if depth >= _NESTING else 3)
    if origin is Literal:
        return st.sampled_from(args)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(strategy_for(a, depth + 1) for a in args))
    raise TypeError(f"no Hypothesis strategy for {base!r}; pass overrides={{field name: strategy}}")


def _doclists_of(annotation: Any, depth: int) -> st.SearchStrategy[Any]:
    item = doclist_item(annotation) or AnyDoc
    size = 0 if depth >= _NESTING else 3
    return st.lists(docs_strategy(item, _depth=depth + 1), max_size=size).map(DocList[item])  # type: ignore[valid-type]


def _simple(base: type, depth: int, dtype: str | None) -> st.SearchStrategy[Any] | None:
    if issubclass(base, bool):
        return st.booleans()
    if issubclass(base, enum.Enum):
        return st.sampled_from(list(base))
    if base is int:
        return st.integers(-_INT_BOUND, _INT_BOUND)
    if base is float:
        return _floats()
    if base is str:
        return _text()
    if base is bytes:
        return st.binary(max_size=16)
    if issubclass(base, AbstractTensor):
        return _tensor(base, dtype)
    if issubclass(base, DocList):
        return _doclists_of(base, depth)
    if issubclass(base, BaseDoc):
        return docs_strategy(base, _depth=depth + 1)
    return None


def docs_strategy(
    schema: type[BaseDoc],
    *,
    overrides: Mapping[str, st.SearchStrategy[Any]] | None = None,
    _depth: int = 0,
) -> st.SearchStrategy[Any]:
    """Draw valid instances of ``schema``: every required field, optional ones now and then.

    ``overrides`` maps top-level field names to strategies, for types devkit cannot draw
    (URLs, images...) or to narrow values. ``id`` keeps docarray's generated default.
    """
    if is_untyped(schema):
        return st.builds(AnyDoc)
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(schema.model_fields))
    if unknown:
        raise ValueError(f"overrides name {unknown}, which are not fields of {schema.__name__}")
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for name, field in schema.model_fields.items():
        if name == "id":
            continue
        if name in overrides:
            strategy = overrides[name]
        else:
            try:
                strategy = strategy_for(
                    field.annotation, _depth, type_info(field.annotation, field.metadata).dtype
                )
            except TypeError as exc:
                if not field.is_required():
                    continue  # leave it at its default
                raise TypeError(f"{schema.__name__}.{name}: {exc}") from None
        if not field.is_required():  # the default now and then, so shrinking can reach it
            strategy = st.builds(functools.partial(field.get_default, call_default_factory=True)) | strategy
        fields[name] = strategy
    return st.builds(schema, **fields)  # shrunk examples then read ``Query(text='')``


def doclists(
    schema: type[BaseDoc],
    min_size: int = 0,
    max_size: int = 5,
    *,
    overrides: Mapping[str, st.SearchStrategy[Any]] | None = None,
) -> st.SearchStrategy[DocList[Any]]:
    """Draw ``DocList[schema]`` batches of ``min_size`` to ``max_size`` documents."""
    item = docs_strategy(schema, overrides=overrides)
    return st.lists(item, min_size=min_size, max_size=max_size).map(DocList[schema])  # type: ignore[valid-type]


# -- fuzzing ---------------------------------------------------------------------------------
def _schemas_of(target: Any, endpoint: str) -> tuple[type[BaseDoc] | None, type[BaseDoc] | None, str]:
    from devkit.orchestrate.deployment import Deployment
    from devkit.orchestrate.flow import Flow
    from devkit.testing.contracts import executor_endpoints, flow_schemas

    if isinstance(target, Flow):
        request, response = flow_schemas(target, endpoint)
        return request, response, f"Flow {target.name!r}"
    if isinstance(target, Deployment):
        table = executor_endpoints(target.spec.executor)
        name = f"Deployment {target.name!r}"
    else:
        from devkit.spec.models import ExecutorSpec

        table = executor_endpoints(ExecutorSpec(uses=target))
        name = f"Executor {target.__name__}"
    served = table.get(endpoint) or table.get("/default")
    if served is None:
        raise ValueError(
            f"{name} does not serve {endpoint!r} (it serves {', '.join(sorted(table)) or 'nothing'})"
        )
    return served.request_schema, served.response_schema, name


def _orchestrator(target: Any) -> tuple[Orchestrator, bool]:
    """The server to post to, and whether this call must start and close it."""
    from devkit.orchestrate.base import Orchestrator, State
    from devkit.orchestrate.deployment import Deployment

    if isinstance(target, Orchestrator):
        return target, target._state is State.NEW
    return Deployment(uses=target, runtime="thread", quiet=True), True


def fuzz_endpoint(
    target: Any,
    endpoint: str,
    *,
    request_schema: type[BaseDoc] | None = None,
    response_schema: type[BaseDoc] | None = None,
    min_size: int = 1,
    max_size: int = 5,
    max_examples: int = 25,
    parameters: Mapping[str, Any] | None = None,
    overrides: Mapping[str, st.SearchStrategy[Any]] | None = None,
    check: Callable[[DocList[Any], DocList[Any]], None] | None = None,
) -> None:
    """Post Hypothesis-drawn batches to ``endpoint`` and check every response.

    ``target`` is an Executor class (served by a thread-runtime Deployment for the run), a
    Deployment or a Flow (started and closed here unless already started). Schemas default
    to what the endpoint declares. Each response must decode and validate as
    ``DocList[response_schema]``; ``check(sent, received)`` may add assertions. On failure
    Hypothesis prints the shrunk batch, and the message names endpoint and schema.
    """
    __tracebackhide__ = True
    endpoint = endpoint if endpoint.startswith("/") else f"/{endpoint}"
    declared_request, declared_response, name = _schemas_of(target, endpoint)
    request = request_schema or declared_request
    response = response_schema or declared_response or request
    if request is None or is_untyped(request):
        raise TypeError(f"{name}: endpoint {endpoint!r} declares no request schema; pass request_schema=")
    assert response is not None
    server, owned = _orchestrator(target)
    where = f"endpoint {endpoint!r} of {name}"

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(doclists(request, min_size, max_size, overrides=overrides))
    def run(docs: DocList[Any]) -> None:
        __tracebackhide__ = True
        _post_and_validate(server, endpoint, docs, response, where, dict(parameters or {}), check)

    if owned:
        server.start()
    try:
        run()
    finally:
        if owned:
            server.close()


def _post_and_validate(
    server: Orchestrator,
    endpoint: str,
    docs: DocList[Any],
    schema: type[BaseDoc],
    where: str,
    parameters: dict[str, Any],
    check: Callable[[DocList[Any], DocList[Any]], None] | None,
) -> None:
    __tracebackhide__ = True
    from pydantic import ValidationError

    from devkit.errors import ExecutorError

    try:
        # decoding as DocList[schema] is the validation: missing fields, wrong types, shapes
        received = server.post(endpoint, docs, parameters or None, return_type=DocList[schema])  # type: ignore[valid-type]
    except ExecutorError as exc:
        raise AssertionError(f"{where} raised for a valid DocList[{docs.doc_type.__name__}]: {exc}") from None
    except (ValidationError, ValueError, TypeError) as exc:
        raise AssertionError(
            f"{where}: the response does not honour the declared response schema {schema.__name__}: {exc}"
        ) from None
    problems = [f"document {i}: {text}" for i, doc in enumerate(received) for text in dtype_problems(doc)]
    if problems:
        raise AssertionError(
            f"{where}: the response does not honour the declared response schema {schema.__name__}: "
            + "; ".join(problems)
        )
    if check is not None:
        check(docs, received)
