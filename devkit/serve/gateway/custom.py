"""Custom gateways (docs page 56): a :class:`Gateway` runs any asyncio server, a
:class:`FastAPIBaseGateway` only returns an ASGI app (Starlette, or FastAPI, which is Starlette).

devkit builds the class with the user's ``uses_with`` and injects ``name``, ``host``,
``port`` (the first), ``ports``, ``protocols``, ``streamer``, ``executor``, ``runtime_args``
and ``logger``; a subclass with its own ``__init__`` takes ``**kwargs`` and passes them to
``super().__init__``, as in jina.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pathlib
import socket
from types import SimpleNamespace
from typing import Any, ClassVar

import yaml

from devkit.errors import ConfigError, RuntimeFailToStart
from devkit.serve.gateway.asgi import AsgiServer, start_asgi_server
from devkit.serve.gateway.core import GatewayCore
from devkit.serve.gateway.streamer import Executors, GatewayStreamer
from devkit.spec.models import GatewaySpec

__all__ = ["FastAPIBaseGateway", "Gateway", "resolve_gateway", "start_custom_gateway"]


class Gateway:
    """Base of custom gateways: implement ``setup_server``, ``run_server`` and ``shutdown``."""

    _registry: ClassVar[dict[str, type[Gateway]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Gateway._registry[cls.__name__] = cls

    def __init__(
        self,
        *,
        name: str = "gateway",
        host: str = "0.0.0.0",
        port: int = 0,
        ports: list[int] | None = None,
        protocols: list[str] | None = None,
        streamer: GatewayStreamer | None = None,
        executor: Executors | None = None,
        runtime_args: Any = None,
        logger: logging.Logger | None = None,
        **kwargs: Any,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.ports = list(ports or [port])
        self.protocols = list(protocols or ["http"])
        self.streamer = streamer
        self.executor = executor
        self.runtime_args = runtime_args or SimpleNamespace(name=name, host=host, port=self.ports)
        self.logger = logger or logging.getLogger(f"devkit.gateway.{name}")

    async def setup_server(self) -> None:
        """Build the server (bound to ``self.host``/``self.port``); do not serve yet."""
        raise NotImplementedError(f"{type(self).__name__} must implement async setup_server()")

    async def run_server(self) -> None:
        """Serve until ``shutdown`` is called."""
        raise NotImplementedError(f"{type(self).__name__} must implement async run_server()")

    async def shutdown(self) -> None:
        """Stop serving and free what ``setup_server`` took."""
        raise NotImplementedError(f"{type(self).__name__} must implement async shutdown()")


class FastAPIBaseGateway(Gateway):
    """A gateway whose subclass only returns an ASGI app from the ``app`` property; devkit
    serves it with uvicorn on the gateway's port and adds ``GET /`` (health) if the app has none."""

    _server: AsgiServer | None = None

    @property
    def app(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement the app property")

    async def setup_server(self) -> None:
        app = self.app
        if not any(getattr(route, "path", None) == "/" for route in getattr(app, "routes", [])):

            async def health(request: Any) -> Any:
                from starlette.responses import JSONResponse

                return JSONResponse({})

            app.add_route("/", health, methods=["GET"])
        self._server = await start_asgi_server(
            app, host=self.host, port=self.port, what=f"gateway {self.name!r}"
        )
        self.port = self._server.port
        self.ports[0] = self.port

    async def run_server(self) -> None:
        assert self._server is not None, "setup_server() first"
        await self._server.wait()

    async def shutdown(self) -> None:
        if self._server is not None:
            await self._server.stop()


# -- resolving uses= ------------------------------------------------------------------------
def _gateway_yaml(path: pathlib.Path) -> tuple[str, dict[str, Any], list[str]]:
    """``!MyGateway`` (or ``jtype: MyGateway``) with ``py_modules`` and ``with``."""

    class Loader(yaml.SafeLoader):
        pass

    def tagged(loader: yaml.SafeLoader, tag: str, node: yaml.Node) -> Any:
        data = loader.construct_mapping(node, deep=True) if isinstance(node, yaml.MappingNode) else {}
        return {"jtype": tag, **data}

    Loader.add_multi_constructor("!", tagged)
    data = yaml.load(path.read_text(), Loader=Loader) or {}
    if not isinstance(data, dict) or not data.get("jtype"):
        raise ConfigError(f"{path}: a gateway YAML names its class as '!MyGateway' or 'jtype: MyGateway'")
    modules = data.get("py_modules") or []
    modules = [modules] if isinstance(modules, str) else list(modules)
    resolved = [
        str(path.parent / m) if not os.path.isabs(m) and (path.parent / m).exists() else m for m in modules
    ]
    return str(data["jtype"]), dict(data.get("with") or {}), resolved


def resolve_gateway(spec: GatewaySpec) -> tuple[type[Gateway], dict[str, Any]]:
    """The custom gateway class ``spec.uses`` names, and its arguments (``uses_with`` last)."""
    from devkit.spec.loader import import_module, import_py_modules

    uses, modules = spec.uses, list(spec.py_modules)
    arguments: dict[str, Any] = {}
    if isinstance(uses, str) and uses.endswith((".yml", ".yaml", ".jaml")):
        uses, arguments, more = _gateway_yaml(pathlib.Path(uses))
        modules += more
    import_py_modules(modules)
    arguments.update(spec.uses_with)
    if isinstance(uses, type):
        found: Any = uses
    elif isinstance(uses, str) and uses in Gateway._registry:
        found = Gateway._registry[uses]
    elif isinstance(uses, str) and "." in uses:
        module_name, _, class_name = uses.rpartition(".")
        found = getattr(import_module(module_name), class_name, None)
    else:
        known = ", ".join(sorted(Gateway._registry)) or "none"
        raise ConfigError(
            f"gateway uses={uses!r}: no Gateway class of that name is imported (known: {known}); "
            "add its file to py_modules or pass 'module.ClassName'"
        )
    if not (isinstance(found, type) and issubclass(found, Gateway)):
        raise ConfigError(f"gateway uses={uses!r} is not a subclass of devkit.Gateway")
    return found, arguments


def _free_port(host: str) -> int:
    """A port for a server devkit does not bind itself (the OS picks it; jina picks at random)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1" if host in ("0.0.0.0", "") else host, 0))
        return int(sock.getsockname()[1])


async def _listening(host: str, port: int) -> bool:
    target = "127.0.0.1" if host in ("0.0.0.0", "") else host
    try:
        _, writer = await asyncio.open_connection(target, port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class CustomFrontEnd:
    """A started custom gateway as the server loop sees any front-end."""

    def __init__(self, gateway: Gateway, task: asyncio.Task[None]) -> None:
        self.gateway = gateway
        self._task = task

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(self.gateway.ports)

    async def stop(self, grace: float | None = 5.0) -> None:
        await self.gateway.shutdown()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace)
        except TimeoutError:
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task


async def start_custom_gateway(core: GatewayCore, spec: GatewaySpec, timeout: float = 30.0) -> CustomFrontEnd:
    cls, arguments = resolve_gateway(spec)
    fastapi = issubclass(cls, FastAPIBaseGateway)
    ports = [
        p.port or (0 if fastapi and i == 0 else _free_port(spec.host)) for i, p in enumerate(spec.protocols)
    ]
    gateway = cls(
        **arguments,
        name=spec.name,
        host=spec.host,
        port=ports[0],
        ports=ports,
        protocols=[p.protocol for p in spec.protocols],
        streamer=GatewayStreamer(core),
        executor=Executors(core),
    )
    await gateway.setup_server()
    task = asyncio.create_task(gateway.run_server(), name=f"gateway {spec.name!r} ({cls.__name__})")
    if not fastapi:  # any server: ready once its first port accepts connections (what jina checks)
        deadline = asyncio.get_running_loop().time() + timeout
        while not await _listening(spec.host, gateway.port):
            if task.done():
                task.result()
                raise RuntimeFailToStart(
                    f"gateway {cls.__name__} stopped before listening on port {gateway.port}"
                )
            if asyncio.get_running_loop().time() > deadline:
                task.cancel()
                raise RuntimeFailToStart(
                    f"gateway {cls.__name__} did not listen on port {gateway.port} within {timeout:g} s"
                )
            await asyncio.sleep(0.02)
    return CustomFrontEnd(gateway, task)
