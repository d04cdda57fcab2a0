"""The Executor base class: a plain Python class whose `@requests` methods become endpoints."""

from __future__ import annotations

import os
import pathlib
import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from types import SimpleNamespace
from typing import Any, ClassVar

from devkit.errors import ConfigError, EndpointSignatureError
from devkit.executor.batching import BatchingConfig, batching_of
from devkit.executor.decorators import DEFAULT_ENDPOINT, binding_of
from devkit.executor.endpoint import Endpoint, endpoint_from_method
from devkit.logs import executor_logger
from devkit.observability.noop import NOOP_METER, NOOP_TRACER

__all__ = ["Executor"]

_DEFAULT_WORKSPACE = pathlib.Path("~/.cache/devkit").expanduser()


def _class_bindings(cls: type) -> dict[str, Any]:
    """``{method name: (function, binding)}`` for every decorated method, subclasses winning."""
    found: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if binding_of(value) is not None:
                found[name] = value
            elif name in found and callable(value):
                found.pop(name)  # a subclass overrode a decorated method without decorating it
    return found


class Executor:
    """Base class of every Executor.

    Subclasses carry ``**kwargs`` through ``__init__`` to ``super().__init__(**kwargs)`` so
    that the orchestrator can inject ``metas``, ``requests``, ``runtime_args`` and
    ``workspace``. An Executor is also an ordinary object: its methods can be called
    directly in a unit test.
    """

    _registry: ClassVar[dict[str, type[Executor]]] = {}
    #: spans of your own: ``with self.tracer.start_as_current_span('embed'):`` (a no-op tracer
    #: unless the Deployment or Flow traces; then children of the endpoint's span)
    tracer: Any = NOOP_TRACER
    #: where ``self.monitor(...)`` and ``@monitor()`` record (None: metrics and monitoring off)
    metrics: Any = None
    #: an OpenTelemetry Meter for instruments of your own, usable from ``__init__`` on:
    #: ``self.counter = self.meter.create_counter('my_count')``, then ``self.counter.add(1)``
    #: (exported with jina's metrics when ``metrics=True``; a no-op meter otherwise, never None)
    meter: Any = NOOP_METER

    def monitor(self, name: str, documentation: str = "") -> AbstractContextManager[None]:
        """Time a block into the Summary/Histogram ``jina_<name>`` (a no-op when not measured)::

        with self.monitor('preprocessing_seconds', 'Time preprocessing the requests'):
            ...
        """
        from devkit.observability.monitor import timed

        return timed(self.metrics, name, documentation)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Executor._registry[cls.__name__] = cls
        cls._endpoint_cache = None  # type: ignore[attr-defined]

    def __init__(
        self,
        metas: Mapping[str, Any] | None = None,
        requests: Mapping[str, str] | None = None,
        runtime_args: Mapping[str, Any] | None = None,
        workspace: str | None = None,
        dynamic_batching: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise TypeError(
                f"{type(self).__name__}.__init__ got unexpected arguments {sorted(kwargs)}; "
                "declare them in your __init__ (and pass **kwargs on to super().__init__)"
            )
        metas = dict(metas or {})
        runtime = dict(runtime_args or {})
        meter = runtime.pop("meter", None)  # the worker's, when metrics=True
        if meter is not None:
            self.meter = meter
        self.metas = SimpleNamespace(
            # runtime_args.name is the replica's (``encoder/rep-0``); the Executor's is its first part
            name=metas.pop("name", None)
            or str(runtime.get("name") or "").split("/")[0]
            or type(self).__name__,
            description=metas.pop("description", None),
            py_modules=metas.pop("py_modules", None),
            workspace=metas.pop("workspace", None),
        )
        for key, value in metas.items():
            setattr(self.metas, key, value)
        self.runtime_args = SimpleNamespace(
            name=runtime.get("name", self.metas.name),
            replicas=runtime.get("replicas", 1),
            shards=runtime.get("shards", 1),
            shard_id=runtime.get("shard_id", 0),
            replica_id=runtime.get("replica_id", 0),
            workspace=runtime.get("workspace", workspace),
            py_modules=runtime.get("py_modules"),
        )
        #: ``devkit.executor.<name>``, a standard :class:`logging.Logger`
        self.logger = executor_logger(str(self.metas.name))
        self._workspace_root = workspace or self.runtime_args.workspace or self.metas.workspace
        self.requests: dict[str, Endpoint] = self._build_endpoints(requests or {})
        #: endpoint -> its batching, from ``@dynamic_batching`` then ``uses_dynamic_batching``
        self.dynamic_batching: dict[str, BatchingConfig] = self._batching_table(dynamic_batching or {})

    # -- endpoints -------------------------------------------------------------------------
    @classmethod
    def _decorated_endpoints(cls) -> dict[str, Endpoint]:
        cached = cls.__dict__.get("_endpoint_cache")
        if cached is not None:
            return dict(cached)
        table: dict[str, Endpoint] = {}
        for method_name, fn in _class_bindings(cls).items():
            binding = binding_of(fn)
            assert binding is not None
            endpoint = endpoint_from_method(
                cls, method_name, fn, binding.request_schema, binding.response_schema
            )
            for name in binding.on:
                table[name] = endpoint
        cls._endpoint_cache = table  # type: ignore[attr-defined]
        return dict(table)

    def _build_endpoints(self, overrides: Mapping[str, str]) -> dict[str, Endpoint]:
        table = self._decorated_endpoints()
        if not overrides:
            return table
        rebound = set(overrides.values())
        table = {name: ep for name, ep in table.items() if ep.method_name not in rebound}
        for name, method_name in overrides.items():
            fn = getattr(type(self), method_name, None)
            if fn is None or not callable(fn):
                raise EndpointSignatureError(
                    f"uses_requests binds {name!r} to {method_name!r}, "
                    f"which is not a method of {type(self).__name__}"
                )
            binding = binding_of(fn)
            endpoint = endpoint_from_method(
                type(self),
                method_name,
                fn,
                binding.request_schema if binding else None,
                binding.response_schema if binding else None,
            )
            key = name if name.startswith("/") or name == DEFAULT_ENDPOINT else f"/{name}"
            table[key] = endpoint
        return table

    def _batching_table(self, overrides: Mapping[str, Any]) -> dict[str, BatchingConfig]:
        if not isinstance(overrides, Mapping):
            raise ConfigError(
                f"{type(self).__name__}: uses_dynamic_batching maps endpoints to their batching, like "
                f"{{'/bar': {{'preferred_batch_size': 10, 'timeout': 200}}}}; got {overrides!r}"
            )
        table: dict[str, BatchingConfig] = {}
        for name, endpoint in self.requests.items():
            config = batching_of(getattr(type(self), endpoint.method_name, None))
            if config is not None:
                table[name] = config
        for raw_name, value in overrides.items():
            name = raw_name if raw_name.startswith("/") else f"/{raw_name}"
            where = f"{type(self).__name__}: uses_dynamic_batching[{raw_name!r}]"
            if name not in self.requests and DEFAULT_ENDPOINT not in self.requests:
                served = ", ".join(sorted(self.requests)) or "no endpoint"
                raise ConfigError(
                    f"{where} names an endpoint {type(self).__name__} does not serve; it serves {served}"
                )
            config = BatchingConfig.parse(value, where)
            if config is None:
                table.pop(name, None)
            else:
                table[name] = config
        for name in table:
            method = self.endpoint_for(name)
            if method is not None and method.is_generator:
                raise ConfigError(
                    f"{type(self).__name__}: endpoint {name!r} streams documents ({method.method_name!r} is a "
                    "generator) and cannot be dynamically batched; remove its batching"
                )
        return table

    def batching_for(self, exec_endpoint: str) -> BatchingConfig | None:
        """The batching of the endpoint serving ``exec_endpoint`` (None: it is not batched)."""
        if exec_endpoint in self.requests:
            return self.dynamic_batching.get(exec_endpoint)
        return self.dynamic_batching.get(exec_endpoint) or self.dynamic_batching.get(DEFAULT_ENDPOINT)

    def endpoint_for(self, exec_endpoint: str) -> Endpoint | None:
        """The method serving ``exec_endpoint``: the exact binding, else the default one."""
        return self.requests.get(exec_endpoint) or self.requests.get(DEFAULT_ENDPOINT)

    # -- workspace and lifecycle -----------------------------------------------------------
    @property
    def workspace(self) -> str:
        """A directory reserved for this Executor instance (created on first use)."""
        root = pathlib.Path(self._workspace_root or _DEFAULT_WORKSPACE)
        path = root / str(self.metas.name)
        if (self.runtime_args.shards or 1) > 1:
            path = path / str(self.runtime_args.shard_id)
        os.makedirs(path, exist_ok=True)
        return str(path)

    def close(self) -> None:
        """Called once when the serving runtime stops; override to persist state."""

    @classmethod
    def load_config(
        cls,
        source: str | os.PathLike[str],
        uses_with: Mapping[str, Any] | None = None,
        uses_metas: Mapping[str, Any] | None = None,
        uses_requests: Mapping[str, str] | None = None,
        runtime_args: Mapping[str, Any] | None = None,
    ) -> Executor:
        """Build an Executor from a YAML file (or YAML text) with ``jtype``/``with``/``metas``."""
        from devkit.spec.executor_yaml import load_executor_yaml

        return load_executor_yaml(
            source,
            uses_with=uses_with,
            uses_metas=uses_metas,
            uses_requests=uses_requests,
            runtime_args=runtime_args,
        )

    @classmethod
    def from_hub(
        cls,
        uri: str,
        uses_with: Mapping[str, Any] | None = None,
        uses_metas: Mapping[str, Any] | None = None,
        uses_requests: Mapping[str, str] | None = None,
        **_ignored: Any,
    ) -> Executor:
        """Build the Executor ``jinaai://NAME[:TAG]`` names in the local hub folder
        (:mod:`devkit.hub`; the hosted Hub is not contacted). ``install_requirements`` and
        ``force_update`` are accepted and ignored: the folder is read in place."""
        from devkit.hub import resolve_uses

        return cls.load_config(resolve_uses(uri), uses_with, uses_metas, uses_requests)

    @classmethod
    def serve(cls, *, stop_event: threading.Event | None = None, **deployment_kwargs: Any) -> None:
        """Serve this Executor in a Deployment (``Deployment(uses=cls, ...)``) until
        ``stop_event`` is set or Ctrl-C."""
        from devkit.orchestrate.deployment import Deployment

        with Deployment(uses=cls, **deployment_kwargs) as dep:
            dep.block(stop_event)
