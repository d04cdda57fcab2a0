"""``save_config`` loses nothing: every keyword ``Flow()``, ``Flow.add()``, ``config_gateway()`` and
``Deployment()`` accept, set to a value other than its default, comes back from ``load_config``
as the same resolved topology (devkit.spec.topology) and the same orchestrator flags.

Each table below must name every keyword of its signature, so an option added later without a
value here fails the coverage test rather than going untested.
"""

from __future__ import annotations

import inspect
import pathlib
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devkit import ConfigError, Deployment, Executor, Flow, requests
from devkit.spec.models import HttpOptions
from devkit.spec.topology import resolve


class SavedExecutor(Executor):
    @requests
    def foo(self, docs, **kwargs):
        pass


USES = "SavedExecutor"  # a string: the original and the loaded spec then hold the same value

HTTP_OPTIONS: dict[str, dict[str, Any]] = {
    "title": {"title": "Saved"},
    "description": {"description": "what it does"},
    "cors": {"cors": True},
    "no_debug_endpoints": {"no_debug_endpoints": True},
    "no_crud_endpoints": {"no_crud_endpoints": True},
    "expose_endpoints": {"expose_endpoints": {"/foo": {"summary": "Foo", "methods": ["PUT"]}}},
    "uvicorn_kwargs": {"uvicorn_kwargs": {"loop": "asyncio"}},
    "ssl_certfile": {"ssl_certfile": "cert.pem"},
    "ssl_keyfile": {"ssl_keyfile": "key.pem"},
}

TELEMETRY_OPTIONS: dict[str, dict[str, Any]] = {
    "tracing": {"tracing": True},
    "monitoring": {"monitoring": True},
    "metrics": {"metrics": True},
    "traces_exporter_host": {"tracing": True, "traces_exporter_host": "collector"},
    "traces_exporter_port": {"tracing": True, "traces_exporter_port": 4317},
    "tracing_exporter_host": {"tracing": True, "tracing_exporter_host": "collector"},  # jina's other spelling
    "tracing_exporter_port": {"tracing": True, "tracing_exporter_port": 4317},
    "metrics_exporter_host": {"metrics": True, "metrics_exporter_host": "collector"},
    "metrics_exporter_port": {"metrics": True, "metrics_exporter_port": 4319},
    "port_monitoring": {"monitoring": True, "port_monitoring": 19100},
}

#: Flow(...) keyword -> the keywords that set it to something other than its default
FLOW_OPTIONS: dict[str, dict[str, Any]] = {
    "name": {"name": "saved"},
    "port": {"port": 23456},
    "host": {"host": "127.0.0.2"},
    "protocol": {"protocol": ["grpc", "http"], "port": [23456, 23457]},
    "runtime": {"runtime": "process"},
    "prefetch": {"prefetch": 7},
    "timeout_ready": {"timeout_ready": 1500},
    "timeout_send": {"timeout_send": 2500},
    "retries": {"retries": 3},
    "exit_on_exceptions": {"exit_on_exceptions": ["KeyError"]},
    "env": {"env": {"SAVED": "1"}},
    "workspace": {"workspace": "flow-workspace"},
    "py_modules": {"py_modules": ["saved_helpers"]},
    "extra_search_paths": {"extra_search_paths": ["search-here"]},
    "image_pull_secrets": {"image_pull_secrets": ["regcred"]},
    "quiet": {"quiet": True},
    "strict_contracts": {"strict_contracts": True},
    "reload": {"reload": True},
    "restart_on_crash": {"restart_on_crash": False},
    "log_config": {"log_config": "logging.yml"},
    "record": {"record": "recordings"},
    **TELEMETRY_OPTIONS,
    **HTTP_OPTIONS,  # Flow(**gateway) takes config_gateway's HTTP options
}

#: Flow.add(...) keyword -> the keywords (besides uses=USES) of the second Executor
ADD_OPTIONS: dict[str, dict[str, Any]] = {
    "uses": {"uses": "other_module.OtherExecutor"},
    "name": {"name": "renamed"},
    "needs": {"needs": "gateway"},
    "replicas": {"replicas": 2},
    "shards": {"shards": 3},
    "polling": {"shards": 2, "polling": {"/foo": "ALL", "*": "ANY"}},
    "uses_with": {"uses_with": {"a": 1}},
    "uses_metas": {"uses_metas": {"description": "meta"}},
    "uses_requests": {"uses_requests": {"/bar": "foo"}},
    "uses_dynamic_batching": {"uses_dynamic_batching": {"/foo": {"preferred_batch_size": 4, "timeout": 50}}},
    "py_modules": {"py_modules": ["saved_helpers"]},
    "extra_search_paths": {"extra_search_paths": ["search-here"]},
    "workspace": {"workspace": "executor-workspace"},
    "env": {"env": {"MINE": "2"}},
    "when": {"when": {"tags__key": {"$eq": 5}}},
    "floating": {"floating": True},
    "no_reduce": {"no_reduce": True},
    "host": {"host": "127.0.0.2"},
    "port": {"port": 24567},
    "external": {"external": True, "host": "127.0.0.1:24568"},
    "tls": {"external": True, "host": "127.0.0.1:24569", "tls": True},
    "grpc_metadata": {"external": True, "host": "127.0.0.1:24570", "grpc_metadata": {"k": "v"}},
    "timeout_send": {"timeout_send": 1250},
    "timeout_ready": {"timeout_ready": 30_000},
    "retries": {"retries": 2},
    "exit_on_exceptions": {"exit_on_exceptions": ["ValueError"]},
    "runtime": {"runtime": "process"},
    "env_from_secret": {"env_from_secret": {"TOKEN": {"name": "secret", "key": "token"}}},
    "image_pull_secrets": {"image_pull_secrets": ["executor-cred"]},
    "volumes": {"volumes": ["data:/data"]},
    "reload": {"reload": True},
    **TELEMETRY_OPTIONS,
}

#: config_gateway(...) keyword -> its keywords
GATEWAY_OPTIONS: dict[str, dict[str, Any]] = {
    "port": {"port": 25678},
    "host": {"host": "127.0.0.3"},
    "protocol": {"protocol": "websocket"},
    "prefetch": {"prefetch": 3},
    "replicas": {"replicas": 2},
    "uses": {"uses": "saved_gateway.SavedGateway"},
    "uses_with": {"uses": "saved_gateway.SavedGateway", "uses_with": {"greeting": "hi"}},
    "py_modules": {"py_modules": ["saved_gateway"]},
    "record": {"record": "gateway-recordings"},
    **HTTP_OPTIONS,
}

#: Deployment(...) keyword -> its keywords
DEPLOYMENT_OPTIONS: dict[str, dict[str, Any]] = {
    "uses": {"uses": "other_module.OtherExecutor"},
    "name": {"name": "saved"},
    "port": {"port": 26789},
    "host": {"host": "127.0.0.2"},
    "protocol": {"protocol": ["grpc", "http"]},
    "replicas": {"replicas": 2},
    "shards": {"shards": 3},
    "polling": {"shards": 2, "polling": "ALL"},
    "runtime": {"runtime": "process"},
    "uses_with": {"uses_with": {"a": 1}},
    "uses_metas": {"uses_metas": {"description": "meta"}},
    "uses_requests": {"uses_requests": {"/bar": "foo"}},
    "uses_dynamic_batching": {"uses_dynamic_batching": {"/foo": {"preferred_batch_size": 4, "timeout": 50}}},
    "py_modules": {"py_modules": ["saved_helpers"]},
    "extra_search_paths": {"extra_search_paths": ["search-here"]},
    "workspace": {"workspace": "deployment-workspace"},
    "env": {"env": {"SAVED": "1"}},
    "timeout_ready": {"timeout_ready": -1},
    "timeout_send": {"timeout_send": 2500},
    "retries": {"retries": 4},
    "exit_on_exceptions": {"exit_on_exceptions": ["KeyError", "ValueError"]},
    "env_from_secret": {"env_from_secret": {"TOKEN": {"name": "secret", "key": "token"}}},
    "image_pull_secrets": {"image_pull_secrets": ["regcred"]},
    "volumes": {"volumes": ["data:/data"]},
    "quiet": {"quiet": True},
    "reload": {"reload": True},
    "restart_on_crash": {"restart_on_crash": False},
    "log_config": {"log_config": "logging.yml"},
    "record": {"record": "recordings"},
    **TELEMETRY_OPTIONS,
    **HTTP_OPTIONS,
}


def _keywords(fn: Callable[..., Any]) -> set[str]:
    return {
        name
        for name, p in inspect.signature(fn).parameters.items()
        if name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD
    }


@pytest.mark.parametrize(
    ("table", "accepted"),
    [
        (FLOW_OPTIONS, _keywords(Flow.__init__) | set(HttpOptions.model_fields)),
        (ADD_OPTIONS, _keywords(Flow.add)),
        (GATEWAY_OPTIONS, _keywords(Flow.config_gateway) | set(HttpOptions.model_fields)),
        (DEPLOYMENT_OPTIONS, _keywords(Deployment.__init__) | set(HttpOptions.model_fields)),
    ],
    ids=["Flow", "Flow.add", "config_gateway", "Deployment"],
)
def test_every_accepted_keyword_has_a_non_default_value_here(table, accepted):
    assert sorted(accepted - set(table)) == [], "give these keywords a value in the table"
    assert sorted(set(table) - accepted) == [], "these keywords are no longer accepted"


# -- what must survive --------------------------------------------------------------------------
def _strip(value: Any, folder: str) -> Any:
    """The loader adds the YAML file's folder to ``extra_search_paths``: leave it out here."""
    if isinstance(value, dict):
        return {
            key: [p for p in item if p != folder] if key == "extra_search_paths" else _strip(item, folder)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_strip(item, folder) for item in value]
    return value


def _state(orchestrator: Flow | Deployment, folder: pathlib.Path) -> dict[str, Any]:
    """What a save must keep: the resolved topology, the spec, and the orchestrator's own flags."""
    http = getattr(orchestrator, "http", None)
    return _strip(
        {
            "topology": resolve(orchestrator.spec, http).model_dump(),
            "spec": orchestrator.spec.model_dump(),
            "quiet": orchestrator.quiet,
            "restart_on_crash": orchestrator.restart_on_crash,
            "strict_contracts": getattr(orchestrator, "strict_contracts", None),
            "log_config": orchestrator.log_config,
        },
        str(folder),
    )


def _diff(before: Any, after: Any, path: str = "") -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        return [
            d
            for key in before.keys() | after.keys()
            for d in _diff(before.get(key), after.get(key), f"{path}.{key}")
        ]
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            d for i, (b, a) in enumerate(zip(before, after, strict=True)) for d in _diff(b, a, f"{path}[{i}]")
        ]
    return [] if before == after else [f"{path}: {before!r} -> {after!r}"]


def _lost(build: Callable[[], Flow | Deployment], folder: pathlib.Path) -> list[str]:
    """What differs after save_config -> load_config (empty: nothing lost)."""
    original = build()
    path = folder / "saved.yml"
    original.save_config(path)
    loaded = type(original).load_config(path)
    return _diff(_state(original, folder), _state(loaded, folder))


def _report(lost: list[str]) -> str:
    return "lost by save_config -> load_config:\n" + "\n".join(lost)


def _lost_options(
    table: dict[str, dict[str, Any]],
    build: Callable[[dict[str, Any]], Flow | Deployment],
    tmp_path: pathlib.Path,
) -> list[str]:
    lost = []
    for option, kwargs in table.items():
        folder = tmp_path / option
        folder.mkdir()
        try:
            differences = _lost(lambda kwargs=kwargs: build(kwargs), folder)
        except Exception as exc:  # reported with the option it belongs to
            differences = [f"{type(exc).__name__}: {exc}"]
        lost += [f"{option}: {difference}" for difference in differences]
    return lost


def _flow(
    flow_kwargs: dict[str, Any], add_kwargs: dict[str, Any], gateway: dict[str, Any] | None = None
) -> Flow:
    flow = Flow(**flow_kwargs).add(uses=USES, name="first")
    flow.add(**{"uses": USES, "name": "second", **add_kwargs})
    if gateway is not None:
        flow.config_gateway(**gateway)
    return flow


def test_every_flow_keyword_survives_save_and_load(tmp_path):
    lost = _lost_options(FLOW_OPTIONS, lambda kwargs: _flow(kwargs, {}), tmp_path)
    assert not lost, _report(lost)


def test_every_add_keyword_survives_save_and_load(tmp_path):
    lost = _lost_options(ADD_OPTIONS, lambda kwargs: _flow({}, kwargs), tmp_path)
    assert not lost, _report(lost)


def test_every_config_gateway_keyword_survives_save_and_load(tmp_path):
    lost = _lost_options(GATEWAY_OPTIONS, lambda kwargs: _flow({}, {}, kwargs), tmp_path)
    assert not lost, _report(lost)


def test_every_deployment_keyword_survives_save_and_load(tmp_path):
    lost = _lost_options(DEPLOYMENT_OPTIONS, lambda kwargs: Deployment(**{"uses": USES, **kwargs}), tmp_path)
    assert not lost, _report(lost)


def test_add_keywords_that_override_the_flow_survive_save_and_load(tmp_path):
    """An Executor setting an inherited option to its own value keeps it; one left alone keeps
    the Flow's (a Flow with every inherited option set, the second Executor overriding each)."""
    flow_kwargs = {
        key: FLOW_OPTIONS[key][key]
        for key in ("runtime", "timeout_ready", "timeout_send", "retries", "exit_on_exceptions", "env")
    } | {"workspace": "flow-ws", "py_modules": ["flow_mod"], "image_pull_secrets": ["flow-cred"]}
    overrides = {
        "runtime": "thread",
        "timeout_ready": 5000,
        "timeout_send": 750,
        "retries": 0,
        "exit_on_exceptions": ["TypeError"],
        "env": {"SAVED": "2", "OWN": "x"},
        "workspace": "own-ws",
        "py_modules": ["own_mod"],
        "image_pull_secrets": ["own-cred"],
    }
    lost = _lost(lambda: _flow(flow_kwargs, overrides), tmp_path)
    assert not lost, _report(lost)


# random mixes: each option alone may survive and a combination still lose one
_MIXABLE_FLOW = sorted(set(FLOW_OPTIONS) - {"protocol", "port"})  # these two set the same ports
_MIXABLE_ADD = sorted(set(ADD_OPTIONS) - {"external", "tls", "grpc_metadata", "host", "name"})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    flow_options=st.sets(st.sampled_from(_MIXABLE_FLOW)),
    add_options=st.sets(st.sampled_from(_MIXABLE_ADD)),
    gateway_options=st.sets(st.sampled_from(sorted(GATEWAY_OPTIONS))),
)
def test_any_mix_of_options_survives_save_and_load(
    tmp_path_factory, flow_options, add_options, gateway_options
):
    def merged(table: dict[str, dict[str, Any]], chosen: set[str]) -> dict[str, Any]:
        return {key: value for option in sorted(chosen) for key, value in table[option].items()}

    folder = tmp_path_factory.mktemp("mix")
    lost = _lost(
        lambda: _flow(
            merged(FLOW_OPTIONS, flow_options),
            merged(ADD_OPTIONS, add_options),
            merged(GATEWAY_OPTIONS, gateway_options),
        ),
        folder,
    )
    assert not lost, _report(lost)


def test_everything_at_once_survives_for_a_deployment(tmp_path):
    kwargs = {key: value for option in DEPLOYMENT_OPTIONS.values() for key, value in option.items()}
    kwargs["port"] = [26789, 26790]  # one per protocol
    lost = _lost(lambda: Deployment(**kwargs), tmp_path)
    assert not lost, _report(lost)


# -- what is written ------------------------------------------------------------------------
def _saved(flow: Flow, tmp_path: pathlib.Path) -> dict[str, Any]:
    path = tmp_path / "flow.yml"
    flow.save_config(path)
    return yaml.safe_load(path.read_text())


def test_an_executor_entry_lists_only_what_differs_from_the_flow(tmp_path):
    flow = (
        Flow(
            runtime="process",
            timeout_send=2000,
            retries=3,
            env={"A": "1"},
            py_modules=["shared"],
            reload=True,
        )
        .add(uses=USES, name="inherits")
        .add(uses=USES, name="differs", retries=5, env={"B": "2"}, py_modules=["own"])
    )
    saved = _saved(flow, tmp_path)
    assert saved["with"] == {
        "runtime": "process",
        "timeout_send": 2000,
        "retries": 3,
        "env": {"A": "1"},
        "py_modules": ["shared"],
        "reload": True,
    }
    inherits, differs = saved["executors"]
    assert inherits == {"name": "inherits", "uses": USES}
    assert differs == {
        "name": "differs",
        "uses": USES,
        "env": {"B": "2"},
        "py_modules": ["own"],
        "retries": 5,
    }


def test_a_class_no_module_name_reaches_is_saved_by_its_registered_name_with_a_warning(tmp_path):
    class LocalExecutor(Executor):
        @requests
        def foo(self, docs, **kwargs):
            pass

    flow = Flow().add(uses=LocalExecutor, name="local")
    with pytest.warns(UserWarning, match=r"Executor 'local'.*LocalExecutor.*py_modules"):
        saved = _saved(flow, tmp_path)
    assert saved["executors"][0]["uses"] == "LocalExecutor"
    assert (
        Flow.load_config(tmp_path / "flow.yml").spec.executors[0].deployment.executor.uses == "LocalExecutor"
    )


def test_a_top_level_class_is_saved_by_its_module_name_without_a_warning(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        saved = _saved(Flow().add(uses=SavedExecutor), tmp_path)
    assert saved["executors"][0]["uses"] == f"{SavedExecutor.__module__}.SavedExecutor"


def test_a_uses_yaml_cannot_hold_is_a_config_error_naming_the_option(tmp_path):
    flow = Flow(name="odd").add(uses=42, name="number")
    with pytest.raises(
        ConfigError, match=r"Flow 'odd', Executor 'number': uses=42 cannot be written to YAML"
    ):
        flow.save_config(tmp_path / "flow.yml")
    with pytest.raises(ConfigError, match=r"Deployment 'number': uses=42"):
        Deployment(uses=42, name="number").save_config(tmp_path / "dep.yml")


def test_a_value_yaml_cannot_hold_is_a_config_error_naming_where_it_is(tmp_path):
    flow = Flow(name="odd").add(uses=USES, name="first", uses_with={"model": [1, object()]})
    with pytest.raises(
        ConfigError, match=r"Flow 'odd': executors\[0\]\.uses_with\.model\[1\] = <object object"
    ):
        flow.save_config(tmp_path / "flow.yml")
    assert not (tmp_path / "flow.yml").exists(), "half a file was written"
    deployment = Deployment(uses=USES, name="odd", uses_metas={"made": object()})
    with pytest.raises(ConfigError, match=r"Deployment 'odd': with\.uses_metas\.made = <object object"):
        deployment.save_config(tmp_path / "dep.yml")
