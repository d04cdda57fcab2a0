"""Clients of Deployments and Flows: synchronous, asynchronous, and their transports."""

from devkit.client.client import AsyncClient
from devkit.client.sync_client import Client

__all__ = ["AsyncClient", "Client"]
