"""Reading an endpoint's contract off a method's signature.

An :class:`Endpoint` says how to call one Executor method: which arguments it takes, whether
it works on one document (``doc``) or a batch (``docs``), which document schemas it reads
and returns, and whether it streams. It is computed once, when the Executor is built, so
the request path only looks things up.
"""

from __future__ import annotations

import collections.abc
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from docarray import BaseDoc, DocList
from pydantic import BaseModel

from devkit.documents import UntypedDoc
from devkit.errors import EndpointSignatureError
from devkit.wire import doclist_class

__all__ = ["KNOWN_ARGUMENTS", "Endpoint", "endpoint_from_method"]

#: Keyword arguments devkit can pass to an endpoint method.
KNOWN_ARGUMENTS = frozenset(
    {"docs", "doc", "parameters", "docs_matrix", "docs_map", "tracing_context", "exec_endpoint"}
)


@dataclass(frozen=True)
class Endpoint:
    """One served method and the contract read from its signature."""

    method_name: str
    fn: Callable[..., Any]
    is_async: bool
    is_generator: bool
    single_doc: bool
    request_schema: type[BaseDoc]
    response_schema: type[BaseDoc]
    parameters_model: type[BaseModel] | None
    accepts: frozenset[str]
    takes_var_kwargs: bool
    request_doclist: type[DocList[Any]] = field(init=False)
    response_doclist: type[DocList[Any]] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "request_doclist", DocList[self.request_schema])  # type: ignore[name-defined]
        object.__setattr__(self, "response_doclist", DocList[self.response_schema])  # type: ignore[name-defined]

    def wants(self, argument: str) -> bool:
        return self.takes_var_kwargs or argument in self.accepts


def _doc_schema(annotation: Any) -> type[BaseDoc] | None:
    """The document class inside ``DocList[X]``, ``X``, ``Optional[X]`` or ``AsyncGenerator[X]``."""
    if annotation is inspect.Parameter.empty or annotation is None:
        return None
    annotation = doclist_class(annotation) or annotation
    if isinstance(annotation, type):
        if issubclass(annotation, DocList):
            doc_type = getattr(annotation, "doc_type", None)
            return doc_type if isinstance(doc_type, type) and issubclass(doc_type, BaseDoc) else None
        if issubclass(annotation, BaseDoc):
            return annotation
        return None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (
        collections.abc.AsyncGenerator,
        collections.abc.AsyncIterator,
        collections.abc.Generator,
        collections.abc.Iterator,
    ):
        return _doc_schema(args[0]) if args else None
    for arg in args:  # Union / Optional: the first document type wins
        found = _doc_schema(arg)
        if found is not None:
            return found
    return None


def _schema_from_explicit(value: Any, what: str, where: str) -> type[BaseDoc] | None:
    if value is None:
        return None
    found = _doc_schema(value)
    if found is None:
        raise EndpointSignatureError(
            f"{where}: {what}={value!r} is neither a BaseDoc subclass nor a parametrised DocList"
        )
    return found


def _parameters_model(annotation: Any) -> type[BaseModel] | None:
    if (
        isinstance(annotation, type)
        and issubclass(annotation, BaseModel)
        and not issubclass(annotation, BaseDoc)
    ):
        return annotation
    for arg in typing.get_args(annotation):
        found = _parameters_model(arg)
        if found is not None:
            return found
    return None


def _resolved_hints(fn: Callable[..., Any], signature: inspect.Signature) -> dict[str, Any]:
    """Type hints of ``fn``, resolving each one on its own.

    ``typing.get_type_hints`` fails as a whole when one string annotation cannot be
    resolved (a class local to a function, under ``from __future__ import annotations``);
    resolving hint by hint keeps the document schemas that can be resolved.
    """
    try:
        return typing.get_type_hints(fn)
    except Exception:
        pass
    namespace = dict(getattr(fn, "__globals__", {}))
    raw = {name: p.annotation for name, p in signature.parameters.items()}
    raw["return"] = signature.return_annotation
    hints: dict[str, Any] = {}
    for name, annotation in raw.items():
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, namespace)  # what get_type_hints does per hint
            except Exception:
                annotation = inspect.Parameter.empty
        hints[name] = annotation
    return hints


def endpoint_from_method(
    owner: type,
    method_name: str,
    fn: Callable[..., Any],
    request_schema: Any = None,
    response_schema: Any = None,
) -> Endpoint:
    """Build the :class:`Endpoint` of ``owner.method_name``; raise if it cannot be served."""
    where = f"{owner.__name__}.{method_name}"
    signature = inspect.signature(fn)
    hints = _resolved_hints(fn, signature)

    params = list(signature.parameters.values())
    if params and params[0].name == "self":
        params = params[1:]
    accepts: set[str] = set()
    var_kwargs = False
    for param in params:
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            var_kwargs = True
        elif param.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        elif param.name in KNOWN_ARGUMENTS:
            accepts.add(param.name)
        elif param.default is inspect.Parameter.empty:
            raise EndpointSignatureError(
                f"{where}: argument {param.name!r} has no default and devkit cannot supply it; "
                f"endpoint methods may take {sorted(KNOWN_ARGUMENTS)} and **kwargs"
            )
    if "doc" in accepts and "docs" in accepts:
        raise EndpointSignatureError(f"{where}: takes both 'doc' and 'docs'; choose one document or a batch")

    is_generator = inspect.isasyncgenfunction(fn) or inspect.isgeneratorfunction(fn)
    is_async = inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)
    single_doc = "doc" in accepts
    if is_generator and not single_doc:
        raise EndpointSignatureError(
            f"{where}: a streaming endpoint (a generator) must take a single 'doc', not a batch"
        )

    input_hint = hints.get("doc" if single_doc else "docs", inspect.Parameter.empty)
    request = _schema_from_explicit(request_schema, "request_schema", where) or _doc_schema(input_hint)
    response = _schema_from_explicit(response_schema, "response_schema", where) or _doc_schema(
        hints.get("return", inspect.Parameter.empty)
    )
    if single_doc and doclist_class(input_hint) is not None:
        raise EndpointSignatureError(
            f"{where}: 'doc' is one document; annotate it with a BaseDoc, not a DocList"
        )
    request = request or UntypedDoc
    return Endpoint(
        method_name=method_name,
        fn=fn,
        is_async=is_async,
        is_generator=is_generator,
        single_doc=single_doc,
        request_schema=request,
        response_schema=response or request,
        parameters_model=_parameters_model(hints.get("parameters")),
        accepts=frozenset(accepts),
        takes_var_kwargs=var_kwargs,
    )
