"""Every exception devkit raises on purpose; each message names the thing and the cause."""

from __future__ import annotations

__all__ = [
    "BadRequestError",
    "ConfigError",
    "DevkitError",
    "EndpointSignatureError",
    "ExecutorError",
    "ExecutorLoadError",
    "ExecutorUnreachableError",
    "NotSupportedYetError",
    "PortInUseError",
    "RuntimeFailToStart",
    "ServerUnavailableError",
    "UnencodableDocumentError",
]


class DevkitError(Exception):
    """Base class of devkit's own errors."""


class ConfigError(DevkitError, ValueError):
    """A YAML file or keyword argument that cannot be understood."""


class ExecutorLoadError(DevkitError, ImportError):
    """`uses=` names an Executor that cannot be imported or found."""


class EndpointSignatureError(DevkitError, TypeError):
    """An `@requests` method whose signature devkit cannot serve."""


class NotSupportedYetError(DevkitError, NotImplementedError):
    """A jina option devkit does not implement yet (tracing, monitoring, docker:// Executors...)."""


class PortInUseError(DevkitError, OSError):
    """A server could not bind its port."""


class RuntimeFailToStart(DevkitError, RuntimeError):
    """A worker, head or gateway did not become ready."""


class ServerUnavailableError(DevkitError, ConnectionError):
    """The client could not reach the server it was pointed at."""


class BadRequestError(DevkitError, ValueError):
    """The server rejected a request as invalid (gRPC INVALID_ARGUMENT / HTTP 4xx)."""


class UnencodableDocumentError(DevkitError, ValueError):
    """A document holds a value docarray's ``DocListProto`` (what jina peers read) cannot carry."""


class ExecutorError(DevkitError):
    """An Executor raised while handling a request; carries the remote details.

    `executor` is the Executor's name, `name` the remote exception class, `description`
    its repr, `stacks` the remote traceback lines, and `response` the whole response.
    """

    def __init__(
        self,
        *,
        executor: str,
        name: str,
        description: str,
        stacks: list[str] | None = None,
        endpoint: str = "",
        response: object = None,
    ) -> None:
        self.executor = executor
        self.name = name
        self.description = description
        self.stacks = list(stacks or [])
        self.endpoint = endpoint
        self.response = response
        where = f" on endpoint {endpoint!r}" if endpoint else ""
        super().__init__(f"Executor {executor!r} raised {name}{where}: {description}")

    def __str__(self) -> str:
        text = str(self.args[0])
        if self.stacks:
            text += "\n\nRemote traceback:\n" + "".join(self.stacks).rstrip()
        return text


class ExecutorUnreachableError(ExecutorError, ConnectionError):
    """The gateway could not reach an Executor (unavailable, or no answer before the timeout).

    A ``ConnectionError`` too, as jina's client raises for network failures, so code that
    catches connection problems catches this one as well.
    """

    #: exception names the gateway reports for failures of the network, not of the Executor
    REMOTE_NAMES = frozenset({"ExecutorUnavailableError", "ExecutorTimeoutError"})
