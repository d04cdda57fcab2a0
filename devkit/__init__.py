"""devkit: serve Executors, Deployments and Flows over the jina protocol, and test them."""

from devkit.client import AsyncClient, Client
from devkit.client.response import Response
from devkit.errors import (
    BadRequestError,
    ConfigError,
    DevkitError,
    EndpointSignatureError,
    ExecutorError,
    ExecutorLoadError,
    ExecutorUnreachableError,
    NotSupportedYetError,
    PortInUseError,
    RuntimeFailToStart,
    ServerUnavailableError,
)
from devkit.executor import Executor, dynamic_batching, requests
from devkit.observability.monitor import monitor
from devkit.orchestrate.deployment import Deployment
from devkit.orchestrate.flow import Flow
from devkit.serve.gateway.custom import FastAPIBaseGateway, Gateway

__all__ = [
    "AsyncClient",
    "BadRequestError",
    "Client",
    "ConfigError",
    "Deployment",
    "DevkitError",
    "EndpointSignatureError",
    "Executor",
    "ExecutorError",
    "ExecutorLoadError",
    "ExecutorUnreachableError",
    "FastAPIBaseGateway",
    "Flow",
    "Gateway",
    "NotSupportedYetError",
    "PortInUseError",
    "Response",
    "RuntimeFailToStart",
    "ServerUnavailableError",
    "dynamic_batching",
    "monitor",
    "requests",
]
