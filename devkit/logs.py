"""Logging: the standard ``logging`` module, one logger per component, set up when serving starts.

Loggers are ``devkit.gateway``, ``devkit.executor.<name>`` (an Executor's ``self.logger``),
``devkit.worker``, ... Nothing is configured at import: :func:`setup_logging` runs when the CLI
serves or an orchestrator starts, and reads ``DEVKIT_LOG_LEVEL`` (or jina's ``JINA_LOG_LEVEL``)
then. It installs a handler only when the application has none (a program or test that set up
logging keeps its own), with rich output on a terminal and plain lines otherwise. Nothing is
logged per request at INFO: a served request costs no log call.
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
import pathlib
import sys
import threading

__all__ = ["LOG_LEVEL_ENV", "applied_log_config", "executor_logger", "log_level_from_env", "setup_logging"]

#: environment variables naming the log level, devkit's first (jina's is honoured too)
LOG_LEVEL_ENV = ("DEVKIT_LOG_LEVEL", "JINA_LOG_LEVEL")
_ROOT = "devkit"
_FORMAT = "%(levelname)s %(name)s: %(message)s"
_LOCK = threading.Lock()
#: the ``log_config`` file the last :func:`setup_logging` applied (None: devkit's own setup)
_applied: str | None = None


def executor_logger(name: str) -> logging.Logger:
    """The logger of the Executor named ``name`` (its first path part: ``encoder/rep-0`` -> encoder)."""
    return logging.getLogger(f"{_ROOT}.executor.{name.split('/')[0]}")


def log_level_from_env() -> int | None:
    """The level ``DEVKIT_LOG_LEVEL`` or ``JINA_LOG_LEVEL`` names (``DEBUG``, ``info``, ``20``), if set."""
    for variable in LOG_LEVEL_ENV:
        value = os.environ.get(variable, "").strip()
        if not value:
            continue
        if value.isdigit():
            return int(value)
        level = logging.getLevelName(value.upper())
        if isinstance(level, int):
            return level
        raise ValueError(
            f"{variable}={value!r} is not a log level; use DEBUG, INFO, WARNING, ERROR or CRITICAL"
        )
    return None


def _load_config(path: str | os.PathLike[str]) -> dict[str, object]:
    """A ``logging.config.dictConfig`` mapping from a YAML or JSON file."""
    file = pathlib.Path(path)
    if not file.is_file():
        raise FileNotFoundError(
            f"log_config {str(path)!r} is not a file; pass a YAML or JSON dictConfig file"
        )
    text = file.read_text()
    if file.suffix == ".json":
        data = json.loads(text)
    else:
        import yaml

        data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"log_config {str(path)!r} must hold a logging dictConfig mapping")
    data.setdefault("version", 1)
    data.setdefault("disable_existing_loggers", False)
    return data


def _handler() -> logging.Handler:
    """Rich output on a terminal; plain ``LEVEL logger: message`` lines anywhere else."""
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        return RichHandler(show_path=False, rich_tracebacks=False)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    return handler


def setup_logging(
    *, verbose: bool = False, log_config: str | os.PathLike[str] | None = None, default: int = logging.INFO
) -> None:
    """Configure devkit's loggers for serving; safe to call more than once.

    ``log_config`` (a YAML or JSON ``dictConfig`` file) replaces devkit's own setup. Otherwise
    the ``devkit`` logger gets the level from ``--verbose`` (DEBUG), the environment, or
    ``default`` when it has none yet (a level a program or test set is kept), and a handler if
    neither it nor the root logger has one.
    """
    global _applied
    with _LOCK:
        _applied = None if log_config is None else os.path.abspath(log_config)
        if log_config is not None:
            logging.config.dictConfig(_load_config(log_config))
            return
        env_level = log_level_from_env()
        logger = logging.getLogger(_ROOT)
        if verbose:
            logger.setLevel(logging.DEBUG)
        elif env_level is not None:
            logger.setLevel(env_level)
        elif logger.level == logging.NOTSET:
            logger.setLevel(default)
        if not logger.handlers and not logging.getLogger().handlers:
            logger.addHandler(_handler())


def applied_log_config() -> str | None:
    """The ``log_config`` file (absolute) the last :func:`setup_logging` in this process applied,
    or None. Process-runtime children configure their logging from it too, so an Executor in a
    child process logs where the same Executor on the thread runtime would."""
    return _applied
