"""Executors and the decorators that expose their methods."""

from devkit.executor.base import Executor
from devkit.executor.decorators import DEFAULT_ENDPOINT, requests
from devkit.executor.endpoint import Endpoint

__all__ = ["DEFAULT_ENDPOINT", "Endpoint", "Executor", "requests"]
