"""devkit's pytest plugin: run the same test on several runtimes, build Flows and
Deployments that are torn down for you, and fail tests that leak.

Registered through the ``pytest11`` entry point, so installing devkit is enough.

* ``@pytest.mark.devkit_runtimes('thread', 'process')`` runs a test once per runtime
  (test ids ``[thread]``, ``[process]``), whether or not it uses a devkit fixture;
  ``--devkit-runtime=process`` keeps only those. While it runs, a ``Flow`` or
  ``Deployment`` built without ``runtime=`` uses that runtime. The ``devkit_runtime``
  fixture tells the test which runtime it is on.
* ``@pytest.mark.devkit_protocols('grpc', 'http', 'websocket')`` adds a protocol axis:
  with both markers a test runs once per combination (``[thread-http]``). The factories'
  Flows and Deployments serve that protocol and ``client_factory`` dials it (pass
  ``protocol=`` to choose another); the ``devkit_protocol`` fixture holds it.
* ``flow_factory`` / ``deployment_factory`` build orchestrators bound to that runtime;
  everything they built is closed after the test, and the test fails if a devkit
  thread, a child process or a listening port outlived it (naming each).
* ``batch_clock`` replaces the time dynamic batching waits on with a manual clock, so a
  test drives batching timeouts without sleeping (thread runtime).
* When such a test fails, its report gets a "devkit topology" section: each Flow's
  diagram annotated with per-Executor requests, errors, median latency and the faults the
  ``network`` fixture injected, as Mermaid text and as an SVG file.
* A failing test that collected spans (the ``spans`` fixture with ``tracing=True``) also gets
  a "devkit trace" section: the span tree of its last request. ``--devkit-trace`` (ini
  ``devkit_trace = true``, or ``@pytest.mark.devkit_trace`` on a test) makes the factories'
  Flows, Deployments and clients trace into a per-test ``spans`` receiver, so every failing
  test gets it. Off by default: tracing turns a thread-runtime Flow's in-process hops into
  gRPC calls and costs per request, so it would change what the test measures.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from docarray import BaseDoc, DocList

from devkit.client.sync_client import Client
from devkit.orchestrate.deployment import Deployment
from devkit.orchestrate.flow import Flow
from devkit.runtime.default import runtime_default
from devkit.serve.clock import use_clock
from devkit.spec.models import GATEWAY_PROTOCOLS
from devkit.testing.assertions import describe_differences
from devkit.testing.clock import ManualClock
from devkit.testing.faults import FakeNetwork
from devkit.testing.harness import RUNTIMES, TestHarness
from devkit.testing.leaks import leaked_since, snapshot
from devkit.testing.ports import free_port as pick_free_port
from devkit.testing.spans import Spans

from .observability import metrics, spans, trace_section

__all__ = [
    "batch_clock",
    "client_factory",
    "deployment_factory",
    "devkit_harness",
    "devkit_protocol",
    "devkit_runtime",
    "executor_container",
    "flow_factory",
    "free_port",
    "metrics",
    "network",
    "no_leaks",
    "spans",
]

_MARKER = "devkit_runtimes"
_PROTOCOLS = "devkit_protocols"
_TRACE = "devkit_trace"
#: the marks a runtime's matrix entries carry, so ``-m "not container"`` can leave them out
_RUNTIME_MARKS = {"process": [pytest.mark.process], "container": [pytest.mark.container, pytest.mark.slow]}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("devkit")
    group.addoption(
        "--devkit-runtime",
        action="store",
        default=None,
        metavar="NAMES",
        help=f"comma-separated runtimes to run devkit tests on (of {', '.join(RUNTIMES)}); "
        "filters tests marked devkit_runtimes and sets the default of the others",
    )
    trace_help = (
        "trace the Flows, Deployments and clients the devkit factories build, so a failing "
        "test's report shows the span tree of its last request (costs per request; off by default)"
    )
    group.addoption("--devkit-trace", action="store_true", default=None, help=trace_help)
    parser.addini(_TRACE, trace_help, type="bool", default=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "process: the test starts servers in child processes (slower)")
    config.addinivalue_line(
        "markers",
        "container: the test runs servers in Docker containers (needs an engine and the base image)",
    )
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(*names): run the test once per devkit runtime ({', '.join(RUNTIMES)}); "
        "the devkit_runtime fixture holds the current one",
    )
    config.addinivalue_line(
        "markers",
        f"{_PROTOCOLS}(*names): run the test once per gateway protocol ({', '.join(GATEWAY_PROTOCOLS)}); "
        "the factories serve it, client_factory dials it, the devkit_protocol fixture holds it",
    )
    config.addinivalue_line(
        "markers",
        f"{_TRACE}: the devkit factories trace what they build into the test's spans receiver; "
        "a failing test's report shows its last request's span tree",
    )


def _selected(config: pytest.Config) -> list[str] | None:
    option = config.getoption("--devkit-runtime")
    if not option:
        return None
    names = [name.strip() for name in option.split(",") if name.strip()]
    unknown = [name for name in names if name not in RUNTIMES]
    if unknown:
        raise pytest.UsageError(
            f"--devkit-runtime: unknown runtime(s) {unknown}; choose from {list(RUNTIMES)}"
        )
    return names


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker(_MARKER)
    if marker is not None:
        wanted = _marked(metafunc, marker, RUNTIMES, "runtime")
        params = [pytest.param(name, marks=_RUNTIME_MARKS.get(name, []), id=name) for name in wanted]
        metafunc.parametrize("devkit_runtime", params, indirect=True)
    marker = metafunc.definition.get_closest_marker(_PROTOCOLS)
    if marker is not None:
        wanted = _marked(metafunc, marker, GATEWAY_PROTOCOLS, "protocol")
        metafunc.parametrize("devkit_protocol", wanted, indirect=True, ids=wanted)


def _marked(metafunc: pytest.Metafunc, marker: pytest.Mark, known: tuple[str, ...], what: str) -> list[str]:
    """The names a matrix marker lists (all ``known`` when it lists none), checked."""
    fixture = f"devkit_{what}"
    if fixture not in metafunc.fixturenames:
        # parametrize only accepts a fixture of the test; _devkit_matrix_of_marked_tests sets it up
        metafunc.fixturenames.append(fixture)
    wanted = [str(name).lower() for name in marker.args] or list(known)
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: {marker.name} got unknown {what}(s) {unknown}; "
            f"choose from {list(known)}"
        )
    return wanted


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attach the annotated topology of the test's Flows, and its last request's trace, to a
    failed test's report."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when != "call" or not report.failed:
        return
    funcargs = getattr(item, "funcargs", {})
    harness = funcargs.get("devkit_harness")
    if isinstance(harness, TestHarness):
        _add_topology(item, report, harness, funcargs)
    collected = funcargs.get("spans")
    if not isinstance(collected, Spans) and isinstance(harness, TestHarness):
        collected = harness.spans
    if isinstance(collected, Spans):
        section = trace_section(collected)
        if section is not None:
            report.sections.append(("devkit trace", section))


def _add_topology(item: pytest.Item, report: Any, harness: TestHarness, funcargs: dict[str, Any]) -> None:
    network = funcargs.get("network")
    faults = network.faults_by_target() if isinstance(network, FakeNetwork) else {}
    folder = item.config._tmp_path_factory.mktemp("devkit-topology", numbered=True)  # type: ignore[attr-defined]
    for index, orchestrator in enumerate(harness.orchestrators):
        if isinstance(orchestrator, Flow):
            report.sections.append(
                ("devkit topology", _topology_section(harness, orchestrator, faults, folder, index))
            )


def _topology_section(
    harness: TestHarness, flow: Flow, faults: dict[str, list[str]], folder: Any, index: int
) -> str:
    recorder = harness.recorder_of(flow)
    path = folder / f"flow-{index}.svg"
    # the diagram annotates Executors; faults on the client -> gateway edge are listed below it
    on_executors = {target: kinds for target, kinds in faults.items() if target != flow.entry_name}
    flow.plot(path, annotations=recorder.annotations(on_executors))
    injected = "".join(
        f"\n  faults towards {target}: {', '.join(kinds)}" for target, kinds in sorted(faults.items())
    )
    return (
        f"Flow {flow.name!r} ({flow.spec.runtime} runtime), diagram: {path}\n"
        f"{recorder.summary()}{injected}\n\n{flow.to_mermaid()}"
    )


def pytest_assertrepr_compare(op: str, left: object, right: object) -> list[str] | None:
    """``assert docs == expected`` on DocLists (or documents) lists each differing field."""
    if op != "==":
        return None
    pair = [[value] if isinstance(value, BaseDoc) else value for value in (left, right)]
    if not all(
        isinstance(value, (DocList, list)) and all(isinstance(d, BaseDoc) for d in value) for value in pair
    ):
        return None
    lines = describe_differences(pair[0], pair[1], ignore=())  # type: ignore[arg-type]
    return ["documents differ:", *lines] if lines else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--devkit-runtime`` deselects the matrix entries of the other runtimes."""
    selected = _selected(config)
    if selected is None:
        return
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        runtime = callspec.params.get("devkit_runtime") if callspec is not None else None
        (dropped if runtime is not None and runtime not in selected else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture
def devkit_runtime(request: pytest.FixtureRequest) -> Iterator[str]:
    """The runtime this test runs on: the matrix parameter, else the first --devkit-runtime, else thread.

    Flows and Deployments the test builds without ``runtime=`` use it too.
    """
    if hasattr(request, "param"):
        runtime = str(request.param)
    else:
        selected = _selected(request.config)
        runtime = selected[0] if selected else "thread"
    if runtime == "container":
        require_docker()
    with runtime_default(runtime):
        yield runtime


@pytest.fixture
def devkit_protocol(request: pytest.FixtureRequest) -> str:
    """The gateway protocol of this test: the ``devkit_protocols`` matrix parameter, else grpc.

    Flows and Deployments from the factories serve it; ``client_factory`` dials it.
    """
    return str(request.param) if hasattr(request, "param") else "grpc"


@pytest.fixture(autouse=True)
def _devkit_matrix_of_marked_tests(request: pytest.FixtureRequest) -> None:
    """Set up ``devkit_runtime`` / ``devkit_protocol`` for a marked test that does not ask for it."""
    if request.node.get_closest_marker(_MARKER) is not None:
        request.getfixturevalue("devkit_runtime")
    if request.node.get_closest_marker(_PROTOCOLS) is not None:
        request.getfixturevalue("devkit_protocol")


def require_docker() -> None:
    """Skip the test, naming why, when no Docker engine answers or the base image is not built;
    under CI (``CI`` set) fail instead."""
    from devkit.container.engine import engine_problem

    problem = engine_problem() or _base_image_problem()
    if problem is None:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"container runtime: {problem} (CI must run the container tests)", pytrace=False)
    pytest.skip(f"container runtime: {problem}")


def _base_image_problem() -> str | None:
    """The base image is built by ``devkit build`` (minutes), not inside a test's timeout."""
    if os.environ.get("DEVKIT_BASE_IMAGE"):
        return None
    from devkit.container.base_image import base_image_tag, image_exists

    tag = base_image_tag()
    return None if image_exists(tag) else f"devkit's base image {tag} is not built; run `devkit build` first"


def _trace_requested(request: pytest.FixtureRequest) -> bool:
    if request.node.get_closest_marker(_TRACE) is not None:
        return True
    option = request.config.getoption("--devkit-trace")
    return bool(option) if option is not None else bool(request.config.getini(_TRACE))


@pytest.fixture
def devkit_harness(
    request: pytest.FixtureRequest, devkit_runtime: str, devkit_protocol: str
) -> Iterator[TestHarness]:
    """What the factories built; closed after the test, which fails on any leak.

    With ``--devkit-trace`` (or the ``devkit_trace`` marker) the factories trace into the
    test's ``spans`` receiver, which is then stopped after the harness closed.
    """
    collected = request.getfixturevalue("spans") if _trace_requested(request) else None
    harness = TestHarness(
        runtime=devkit_runtime, protocol=devkit_protocol, tracing=collected is not None, spans=collected
    )
    yield harness
    problems = harness.close()
    if problems:
        pytest.fail("devkit: the test left behind: " + "; ".join(problems), pytrace=False)


@pytest.fixture
def flow_factory(devkit_harness: TestHarness) -> Callable[..., Flow]:
    """``flow_factory(**Flow kwargs)`` -> an unstarted Flow on the test's runtime and protocol."""
    return devkit_harness.flow


@pytest.fixture
def deployment_factory(devkit_harness: TestHarness) -> Callable[..., Deployment]:
    """``deployment_factory(uses, **kwargs)`` -> an unstarted Deployment on the test's runtime and protocol."""
    return devkit_harness.deployment


@pytest.fixture
def client_factory(devkit_harness: TestHarness) -> Callable[..., Client]:
    """``client_factory(flow_or_port_or_url, protocol=..., **Client kwargs)`` -> a Client closed
    after the test, speaking the test's protocol unless ``protocol=`` says otherwise."""
    return devkit_harness.client


@pytest.fixture
def free_port() -> int:
    """A TCP port on loopback, free now, below the OS's ephemeral range (so no port-0 server
    or outgoing connection of another test can take it before the test's server binds it)."""
    return pick_free_port()


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fail the test if it leaves a devkit thread or a child process running."""
    before = snapshot()
    yield
    leaked = leaked_since(before)
    if leaked:
        pytest.fail("the test left running: " + ", ".join(leaked), pytrace=False)


@pytest.fixture
def executor_container(devkit_harness: TestHarness) -> Iterator[Callable[..., Any]]:
    """``executor_container(uses, name=..., uses_with=...)`` -> an Executor running in a Docker
    container (testcontainers), removed after the test, before the leak check. Skipped, naming
    why, when no Docker engine answers (failed instead under CI)."""
    require_docker()
    from devkit.testing.containers import start_executor_container

    started: list[Any] = []

    def start(uses: Any, **kwargs: Any) -> Any:
        started.append(start_executor_container(uses, **kwargs))
        return started[-1]

    yield start
    for container in reversed(started):
        container.stop()


@pytest.fixture
def network() -> Iterator[FakeNetwork]:
    """A started :class:`~devkit.testing.faults.FakeNetwork` (seed 0), closed after the test.

    Route a Flow or Deployment through it before starting it (``network.attach(flow)``),
    then add faults to ``network.edge(source, target)``. Build ``FakeNetwork(seed=...)``
    yourself for another seed.
    """
    with FakeNetwork(seed=0) as fake:
        yield fake


@pytest.fixture
def batch_clock() -> Iterator[ManualClock]:
    """A :class:`~devkit.testing.clock.ManualClock` that dynamic batching waits on, for this test.

    Executors started during the test on the thread runtime batch on it: a queue flushes by
    timeout only when the test calls ``batch_clock.advance(ms=...)``; ``wait_armed()`` blocks
    until a queue holds requests and waits for time. (The process runtime keeps real time.)
    """
    clock = ManualClock()
    with use_clock(clock):
        yield clock
