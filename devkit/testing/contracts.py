"""Contract checks: do a Flow's Executors fit together, before anything starts?

Each local Executor class is resolved from its spec (nothing is instantiated or served);
then, for every endpoint and every edge of the topology, the schema the upstream Executor
returns is compared with the schema the downstream one reads by the rule the gateway also
applies when it starts (:mod:`devkit.spec.schema_rule`). ``when`` conditions must read fields that exist in
the schema reaching their Executor, and endpoints a client means to call must be served by
someone. Every problem is reported at once, as :class:`Incompatibility` records.

Use :func:`check_flow` for the report, :func:`assert_contracts` in a test,
``Flow(strict_contracts=True)`` to refuse to start, or ``devkit check flow.yml``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from docarray import BaseDoc

from devkit.errors import ConfigError
from devkit.executor.base import Executor
from devkit.executor.decorators import DEFAULT_ENDPOINT
from devkit.executor.endpoint import Endpoint
from devkit.spec.executor_yaml import resolve_executor
from devkit.spec.flow import GATEWAY, FlowSpec
from devkit.spec.models import ExecutorSpec
from devkit.spec.schema_fit import Severity, TensorDtype, field_path_exists, is_untyped
from devkit.spec.schema_rule import edge_problems
from devkit.spec.topology import ExecutorPlan, resolve_flow

if TYPE_CHECKING:
    from devkit.orchestrate.flow import Flow

__all__ = [
    "CLIENT",
    "ContractError",
    "ContractReport",
    "Incompatibility",
    "TensorDtype",
    "assert_contracts",
    "check_command",
    "check_flow",
    "enforce_contracts",
    "executor_endpoints",
    "flow_schemas",
]

#: The name of the caller in records about endpoints nobody serves.
CLIENT = "client"

_LOGICAL = ("$and", "$or", "$not")


@dataclass(frozen=True)
class Incompatibility:
    """One way a Flow's Executors do not fit together.

    ``upstream -> downstream`` is the edge (``upstream`` is ``None`` for problems of one
    Executor, such as a class that cannot be resolved), ``field`` the dotted field path
    (``None`` when the whole edge or endpoint is at fault), ``kind`` a stable keyword
    (``missing-field``, ``optional``, ``type``, ``shape``, ``dtype``, ``tensor-type``,
    ``condition``, ``unserved-endpoint``, ``unresolved``). Warnings are reported but do not
    fail :func:`assert_contracts` or a strict Flow.
    """

    endpoint: str
    upstream: str | None
    downstream: str
    field: str | None
    reason: str
    kind: str
    severity: Severity = "error"

    @property
    def edge(self) -> str:
        return self.downstream if self.upstream is None else f"{self.upstream} -> {self.downstream}"

    def __str__(self) -> str:
        where = f"endpoint {self.endpoint!r}, " if self.endpoint else ""
        what = f", field {self.field!r}" if self.field else ""
        return f"{where}{self.edge}{what}: {self.reason}"


@dataclass(frozen=True)
class ContractReport:
    """The result of :func:`check_flow`; ``str(report)`` is the readable version."""

    flow: str
    endpoints: tuple[str, ...]
    edges: tuple[tuple[str, str], ...]
    incompatibilities: tuple[Incompatibility, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def errors(self) -> list[Incompatibility]:
        return [i for i in self.incompatibilities if i.severity == "error"]

    @property
    def warnings(self) -> list[Incompatibility]:
        return [i for i in self.incompatibilities if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        errors, warnings = len(self.errors), len(self.warnings)
        head = (
            f"contract check of Flow {self.flow!r}: {errors} incompatibilit{'y' if errors == 1 else 'ies'}, "
            f"{warnings} warning{'' if warnings == 1 else 's'} "
            f"({len(self.edges)} edge{'' if len(self.edges) == 1 else 's'}, "
            f"endpoints: {', '.join(self.endpoints) or 'none'})"
        )
        lines = [head]
        for item in [*self.errors, *self.warnings]:
            lines.append(f"  {item.severity:<7} {item}")
        lines.extend(f"  note    {note}" for note in self.notes)
        return "\n".join(lines)


class ContractError(ConfigError):
    """A Flow whose Executors do not fit together; ``report`` lists every incompatibility."""

    def __init__(self, report: ContractReport) -> None:
        self.report = report
        super().__init__(
            f"{report}\nHint: fix the schemas above, or build the Flow without strict_contracts=True "
            "to start it anyway."
        )


# -- resolving Executors without starting them ----------------------------------------------
def _executor_class(spec: ExecutorSpec) -> tuple[type[Executor], dict[str, str]]:
    resolved = resolve_executor(spec)  # as the worker does: same search paths, same errors
    return resolved.cls, dict(resolved.uses_requests)


def executor_endpoints(spec: ExecutorSpec) -> dict[str, Endpoint]:
    """The endpoint table the Executor described by ``spec`` will serve, without building it."""
    cls, overrides = _executor_class(spec)
    shell = object.__new__(cls)  # _build_endpoints reads only the class, never instance state
    return Executor._build_endpoints(shell, overrides)


@dataclass(frozen=True)
class _Node:
    name: str
    needs: tuple[str, ...]
    when: Mapping[str, Any] | None
    table: dict[str, Endpoint] | None  # None: unknown (external or unresolvable)

    def endpoint(self, endpoint: str) -> Endpoint | None:
        if self.table is None:
            return None
        return self.table.get(endpoint) or self.table.get(DEFAULT_ENDPOINT)

    def serves(self, endpoint: str) -> bool:
        return self.table is None or self.endpoint(endpoint) is not None


@dataclass
class _Check:
    spec: FlowSpec
    input_schema: type[BaseDoc] | None
    found: list[Incompatibility] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def nodes(self) -> list[_Node]:
        nodes = []
        for plan in resolve_flow(self.spec).executors:
            nodes.append(_Node(plan.name, plan.node.needs, plan.node.when, self._table(plan)))
        return nodes

    def _table(self, executor: ExecutorPlan) -> dict[str, Endpoint] | None:
        if executor.external:
            self.notes.append(f"{executor.name!r} is external: its schemas are unknown and not checked")
            return None
        try:
            return executor_endpoints(executor.executor)
        except (ImportError, ConfigError, TypeError) as exc:
            self.found.append(
                Incompatibility(
                    "", None, executor.name, None, f"cannot resolve the Executor: {exc}", "unresolved"
                )
            )
            return None

    def walk(self, nodes: list[_Node], endpoint: str) -> dict[str, type[BaseDoc] | None]:
        """Check one endpoint along every edge; return the schema each node sends on."""
        out: dict[str, type[BaseDoc] | None] = {GATEWAY: self.input_schema}
        for node in nodes:
            incoming = [(need, out.get(need)) for need in node.needs]
            served = node.endpoint(endpoint)
            if served is None:  # not served here: documents pass through unchanged (or unknown)
                known = [schema for _, schema in incoming if schema is not None]
                out[node.name] = known[0] if node.table is not None and known else None
                continue
            for need, schema in incoming:
                if schema is None:
                    continue
                for problem in edge_problems(schema, served.request_schema):
                    self.found.append(
                        Incompatibility(
                            endpoint,
                            need,
                            node.name,
                            problem.field,
                            problem.reason,
                            problem.kind,
                            problem.severity,
                        )
                    )
            if node.when:
                self._check_condition(node, endpoint, incoming, served)
            out[node.name] = None if is_untyped(served.response_schema) else served.response_schema
        return out

    def _check_condition(
        self,
        node: _Node,
        endpoint: str,
        incoming: list[tuple[str, type[BaseDoc] | None]],
        served: Endpoint,
    ) -> None:
        assert node.when is not None
        for need, schema in incoming:
            reaching = schema if schema is not None else (served.request_schema if need == GATEWAY else None)
            if reaching is None or is_untyped(reaching):
                continue
            for path in sorted(set(condition_fields(node.when))):
                if not field_path_exists(reaching, path):
                    self.found.append(
                        Incompatibility(
                            endpoint,
                            need,
                            node.name,
                            path,
                            f"the `when` condition of {node.name!r} reads {path!r}, "
                            f"which {reaching.__name__} (the schema reaching it) does not have",
                            "condition",
                        )
                    )

    def unserved(self, nodes: list[_Node], endpoints: Iterable[str]) -> None:
        declared = [node for node in nodes if node.table is None or node.table]
        for endpoint in endpoints:
            if declared and not any(node.serves(endpoint) for node in declared):
                served = sorted({name for node in nodes for name in (node.table or {})})
                self.found.append(
                    Incompatibility(
                        endpoint,
                        CLIENT,
                        GATEWAY,
                        None,
                        f"no Executor serves {endpoint!r} (served: {', '.join(served) or 'none'})",
                        "unserved-endpoint",
                    )
                )


def condition_fields(when: Mapping[str, Any]) -> Iterator[str]:
    """The field paths a docarray filter query (``{'tags__x': {'$eq': 1}}``) reads."""
    for key, value in when.items():
        if key in _LOGICAL:
            for part in value if isinstance(value, list) else [value]:
                if isinstance(part, Mapping):
                    yield from condition_fields(part)
        elif not key.startswith("$"):
            yield key


def _spec_of(flow: Flow | FlowSpec) -> FlowSpec:
    return flow if isinstance(flow, FlowSpec) else flow.spec


def _declared_endpoints(nodes: list[_Node]) -> list[str]:
    names = {name for node in nodes for name in (node.table or {})}
    return sorted(names - {DEFAULT_ENDPOINT}) + ([DEFAULT_ENDPOINT] if DEFAULT_ENDPOINT in names else [])


def check_flow(
    flow: Flow | FlowSpec,
    *,
    endpoints: Sequence[str] | None = None,
    input_schema: type[BaseDoc] | None = None,
) -> ContractReport:
    """Check every edge of ``flow`` for every endpoint; start nothing.

    ``endpoints``: the endpoints clients will call (each must be served by some Executor);
    by default every endpoint an Executor declares. ``input_schema``: what clients send,
    checked against the Executors right after the gateway (by default not checked).
    """
    spec = _spec_of(flow)
    check = _Check(spec, input_schema)
    nodes = check.nodes()
    wanted = [e if e.startswith("/") else f"/{e}" for e in endpoints] if endpoints is not None else None
    if wanted is not None:
        check.unserved(nodes, wanted)
    for endpoint in wanted if wanted is not None else _declared_endpoints(nodes):
        check.walk(nodes, endpoint)
    edges = tuple((need, node.name) for node in nodes for need in node.needs)
    return ContractReport(
        flow=spec.name,
        endpoints=tuple(wanted if wanted is not None else _declared_endpoints(nodes)),
        edges=edges,
        incompatibilities=tuple(check.found),
        notes=tuple(dict.fromkeys(check.notes)),
    )


def flow_schemas(flow: Flow | FlowSpec, endpoint: str) -> tuple[type[BaseDoc] | None, type[BaseDoc] | None]:
    """``(request schema, response schema)`` of ``endpoint`` for the Flow as a whole.

    The request schema is what the first Executor after the gateway that serves the
    endpoint reads; the response schema is what the Flow's last Executor sends back.
    ``None`` where nothing typed is known.
    """
    spec = _spec_of(flow)
    check = _Check(spec, None)
    nodes = check.nodes()
    out = check.walk(nodes, endpoint)
    request = None
    for node in nodes:
        served = node.endpoint(endpoint)
        if served is not None and GATEWAY in node.needs and not is_untyped(served.request_schema):
            request = served.request_schema
            break
    ends = resolve_flow(spec).open_ends
    response = out.get(ends[0]) if ends else request
    return request, response


def assert_contracts(
    flow: Flow | FlowSpec,
    *,
    endpoints: Sequence[str] | None = None,
    input_schema: type[BaseDoc] | None = None,
    allow_warnings: bool = True,
) -> ContractReport:
    """Fail the calling test with the readable report when the Flow's Executors do not fit."""
    __tracebackhide__ = True
    report = check_flow(flow, endpoints=endpoints, input_schema=input_schema)
    if not report.ok or (not allow_warnings and report.warnings):
        raise AssertionError(str(report))
    return report


def enforce_contracts(flow: Flow | FlowSpec) -> None:
    """Raise :class:`ContractError` when :func:`check_flow` finds an error (for strict Flows)."""
    report = check_flow(flow)
    if not report.ok:
        raise ContractError(report)


def check_command(
    path: str | os.PathLike[str], endpoints: Sequence[str] | None = None, out: TextIO | None = None
) -> int:
    """``devkit check flow.yml``: print the report; 0 when the Flow fits together, 1 otherwise.

    Errors loading the YAML itself propagate (the CLI turns them into exit code 1).
    """
    from devkit.orchestrate.flow import Flow

    stream = out or sys.stdout
    flow = Flow.load_config(path)
    report = check_flow(flow, endpoints=endpoints)
    print(report, file=stream)
    return 0 if report.ok else 1
