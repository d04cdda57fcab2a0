"""Client pieces that need no server: host forms, input batching, retry policy."""

import asyncio

import pytest
from docarray import BaseDoc, DocList

from devkit.client.address import parse_address
from devkit.client.inputs import batches
from devkit.client.retry import RetryPolicy


class TextDoc(BaseDoc):
    text: str = ""


@pytest.mark.parametrize(
    "host, port, expected",
    [
        ("grpc://127.0.0.1:12345", None, ("127.0.0.1", 12345, "grpc", False)),
        ("grpcs://example.org:443", None, ("example.org", 443, "grpc", True)),
        ("localhost:12345", None, ("localhost", 12345, "grpc", False)),
        ("localhost", 12345, ("localhost", 12345, "grpc", False)),
        ("0.0.0.0", 12345, ("127.0.0.1", 12345, "grpc", False)),
    ],
)
def test_host_forms(host, port, expected):
    address = parse_address(host, port, None, False)
    assert (address.host, address.port, address.protocol, address.tls) == expected


@pytest.mark.parametrize("host", ["grpc://127.0.0.1:12345", "127.0.0.1:12345"])
def test_port_given_twice_is_an_error(host):
    with pytest.raises(ValueError, match="port is given twice"):
        parse_address(host, 12345, None, False)


def test_unknown_scheme_is_an_error():
    with pytest.raises(ValueError, match="unknown scheme"):
        parse_address("ftp://localhost:1", None, None, False)


def _collect(inputs, request_size):
    async def run():
        return [batch async for batch in batches(inputs, request_size)]

    return asyncio.run(run())


def _gen():
    for i in range(25):
        yield TextDoc(text=str(i))


@pytest.mark.parametrize(
    "inputs",
    [
        DocList[TextDoc]([TextDoc(text=str(i)) for i in range(25)]),
        [TextDoc(text=str(i)) for i in range(25)],
        _gen,
        _gen(),
    ],
    ids=["DocList", "list", "generator-function", "generator"],
)
def test_inputs_are_batched_by_request_size(inputs):
    sizes = [len(batch) for batch in _collect(inputs, 10)]
    assert sizes == [10, 10, 5]


def test_one_document_is_one_batch():
    (batch,) = _collect(TextDoc(text="x"), 10)
    assert batch.text == ["x"]


def test_no_inputs_is_one_empty_request():
    assert _collect(None, 10) == [None]


def test_non_documents_are_rejected():
    with pytest.raises(TypeError, match="BaseDoc"):
        _collect(["a string"], 10)


def test_request_size_must_be_positive():
    with pytest.raises(ValueError, match="request_size"):
        _collect(None, 0)


def test_retry_policy_delays_stay_within_the_documented_bound():
    policy = RetryPolicy(max_attempts=5, initial_backoff=0.5, max_backoff=2.0, backoff_multiplier=1.5)
    for retry in range(1, 6):
        bound = min(0.5 * 1.5 ** (retry - 1), 2.0)
        assert all(0 <= policy.delay(retry) <= bound for _ in range(20))


def test_retry_policy_counts_the_first_try():
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


def test_retry_policy_runs_a_call_until_it_succeeds():
    """One policy drives every retried call, async and blocking alike."""
    policy = RetryPolicy(max_attempts=3, initial_backoff=0.0, max_backoff=0.0)
    failures = [ConnectionError("down"), ConnectionError("still down")]

    def flaky() -> str:
        if failures:
            raise failures.pop(0)
        return "answered"

    async def flaky_async() -> str:
        return flaky()

    assert policy.run_blocking(flaky, lambda exc: isinstance(exc, ConnectionError)) == "answered"
    failures[:] = [ConnectionError("down")]
    assert asyncio.run(policy.run(flaky_async, lambda exc: isinstance(exc, ConnectionError))) == "answered"


def test_retry_policy_gives_up_after_max_attempts_and_on_final_errors():
    policy = RetryPolicy(max_attempts=2, initial_backoff=0.0, max_backoff=0.0)
    calls = []

    def down() -> None:
        calls.append(1)
        raise ConnectionError("down")

    with pytest.raises(ConnectionError, match="down"):
        policy.run_blocking(down, lambda exc: True)
    assert len(calls) == 2
    calls.clear()
    with pytest.raises(ConnectionError):
        policy.run_blocking(down, lambda exc: False)  # not transient: no second attempt
    assert len(calls) == 1


def test_retry_policy_without_jitter_waits_the_bound():
    policy = RetryPolicy(
        max_attempts=4, initial_backoff=0.05, max_backoff=0.15, backoff_multiplier=2, jitter=False
    )
    assert [policy.delay(n) for n in (1, 2, 3)] == [0.05, 0.1, 0.15]


@pytest.mark.parametrize("method", ["post", "stream_doc"])
def test_client_methods_have_explicit_typed_signatures(method):
    """``Client.post`` lists its options (no ``**kwargs``), so typos fail and IDEs complete."""
    import inspect

    from devkit import AsyncClient, Client

    for cls in (Client, AsyncClient):
        signature = inspect.signature(getattr(cls, method))
        kinds = {parameter.kind for parameter in signature.parameters.values()}
        assert inspect.Parameter.VAR_KEYWORD not in kinds, f"{cls.__name__}.{method}{signature}"
        assert all(
            parameter.annotation is not inspect.Parameter.empty
            for name, parameter in signature.parameters.items()
            if name != "self"
        )
    assert list(inspect.signature(Client.post).parameters) == list(
        inspect.signature(AsyncClient.post).parameters
    )
