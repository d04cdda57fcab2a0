"""Executors and the decorators that expose their methods."""

from devkit.executor.base import Executor
from devkit.executor.batching import BatchingConfig, dynamic_batching
from devkit.executor.decorators import DEFAULT_ENDPOINT, requests
from devkit.executor.endpoint import Endpoint

__all__ = ["DEFAULT_ENDPOINT", "BatchingConfig", "Endpoint", "Executor", "dynamic_batching", "requests"]
