"""The pytest plugin, exercised the way pytest tests its own plugins: run pytest on generated files."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

EXECUTORS = """
from docarray import BaseDoc, DocList
from devkit import Executor, requests

class TextDoc(BaseDoc):
    text: str = ''

class Upper(Executor):
    @requests
    def upper(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = doc.text.upper()
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(executors=EXECUTORS)
    pytester.syspathinsert()
    return pytester


def test_marker_runs_a_test_once_per_runtime(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_matrix="""
        import pytest
        from docarray import DocList
        from executors import TextDoc, Upper

        @pytest.mark.devkit_runtimes('thread', 'process')
        def test_upper(flow_factory, devkit_runtime):
            with flow_factory().add(uses=Upper) as flow:
                docs = flow.post('/', TextDoc(text='hi'), return_type=DocList[TextDoc])
            assert docs.text == ['HI']
            assert flow.spec.runtime == devkit_runtime
        """
    )
    result = project.runpytest_subprocess("-v", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*test_upper?thread? PASSED*", "*test_upper?process? PASSED*"])
    result.assert_outcomes(passed=2)


def test_marker_without_devkit_fixtures_runs_per_runtime_and_sets_the_default(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_direct="""
        import pytest
        from docarray import DocList
        from devkit import Deployment, Flow
        from executors import TextDoc, Upper

        @pytest.mark.devkit_runtimes('thread', 'process')
        def test_built_directly():
            flow = Flow(quiet=True).add(uses=Upper)
            deployment = Deployment(Upper, quiet=True)
            with flow:
                assert flow.post('/', TextDoc(text='hi'), return_type=DocList[TextDoc]).text == ['HI']
            print('RUNTIMES', flow.spec.runtime, deployment.spec.runtime)

        def test_unmarked_stays_on_thread():
            assert Flow(quiet=True).spec.runtime == 'thread'
        """
    )
    result = project.runpytest_subprocess("-v", "-s", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        [
            "*test_built_directly?thread? RUNTIMES thread thread*",
            "*test_built_directly?process? RUNTIMES process process*",
        ]
    )
    result.assert_outcomes(passed=3)


def test_command_line_option_keeps_only_the_chosen_runtime(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_matrix="""
        import pytest

        @pytest.mark.devkit_runtimes('thread', 'process')
        def test_runtime(devkit_runtime):
            assert devkit_runtime == 'thread'

        def test_default(devkit_runtime):
            assert devkit_runtime == 'thread'
        """
    )
    result = project.runpytest_subprocess("-v", "--devkit-runtime=thread", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, deselected=1)


def test_unknown_runtime_is_a_usage_error(project: pytest.Pytester) -> None:
    project.makepyfile(test_x="def test_x(devkit_runtime):\n    pass\n")
    result = project.runpytest_subprocess("--devkit-runtime=cloud", "-p", "no:cacheprovider")
    result.stderr.fnmatch_lines(["*unknown runtime(s)*cloud*choose from*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_a_flow_left_running_is_closed_and_reported(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_leak="""
        import threading
        from executors import Upper

        def test_forgets_to_close(flow_factory):
            flow_factory().add(uses=Upper).start()

        def test_leaks_a_thread(devkit_harness):
            threading.Thread(target=threading.Event().wait, args=(3,), name='devkit-stray', daemon=True).start()
        """
    )
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)  # the leaking test passes its call, fails its teardown
    result.stdout.fnmatch_lines(["*devkit: the test left behind: thread 'devkit-stray'*"])


def test_deployment_and_client_factories(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_dep="""
        from docarray import DocList
        from executors import TextDoc, Upper

        def test_post(deployment_factory, client_factory):
            with deployment_factory(Upper, replicas=2) as dep:
                client = client_factory(dep)
                docs = client.post('/', [TextDoc(text='a'), TextDoc(text='b')], return_type=DocList[TextDoc])
            assert docs.text == ['A', 'B']
        """
    )
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_a_failing_test_reports_the_annotated_topology(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_fails="""
        import grpc
        from executors import TextDoc, Upper

        def test_fails(flow_factory, network):
            flow = network.attach(flow_factory().add(uses=Upper, name='upper', replicas=2))
            network.edge('gateway', 'upper', replica=0, layer='grpc').fail(grpc.StatusCode.UNAVAILABLE)
            with flow:
                for _ in range(4):
                    flow.post('/', TextDoc(text='hi'))
            assert False, 'the test fails on purpose'
        """
    )
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*devkit topology*",
            "*Flow 'Flow' (thread runtime), diagram: *flow-0.svg",
            "*upper: 4 requests, 0 errors, p50 * ms",
            "*faults towards upper: fail x*",
            "*flowchart LR*",
        ]
    )
    svg = next(project.path.rglob("flow-0.svg"))  # pytester runs with a basetemp inside its folder
    assert "4 req" in svg.read_text()


def test_comparing_documents_names_the_document_and_field(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_docs="""
        from docarray import DocList
        from executors import TextDoc
        from devkit.testing.assertions import assert_docs_equal

        def test_plain_assert():
            got = DocList[TextDoc]([TextDoc(id='a', text='HI'), TextDoc(id='b', text='there')])
            assert got == DocList[TextDoc]([TextDoc(id='a', text='HI'), TextDoc(id='b', text='THERE')])

        def test_helper_ignores_ids():
            got = DocList[TextDoc]([TextDoc(text='HI')])
            assert_docs_equal(got, [TextDoc(text='HI')])
            assert_docs_equal(got, [TextDoc(text='HI'), TextDoc(text='more')])
        """
    )
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*documents differ:*",
            "*document 1 (id b): field 'text' is 'there', expected 'THERE'*",
            "*got 1 documents, expected 2*",
        ]
    )


def test_protocol_marker_runs_a_test_per_runtime_and_protocol(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_protocols="""
        import pytest
        from docarray import DocList
        from executors import TextDoc, Upper

        @pytest.mark.devkit_runtimes('thread')
        @pytest.mark.devkit_protocols('grpc', 'http', 'websocket')
        def test_upper(flow_factory, client_factory, devkit_runtime, devkit_protocol):
            with flow_factory().add(uses=Upper) as flow:
                client = client_factory(flow)
                docs = client.post('/', TextDoc(text='hi'), return_type=DocList[TextDoc])
                implicit = flow.post('/', TextDoc(text='yo'), return_type=DocList[TextDoc])
            assert docs.text == ['HI'] and implicit.text == ['YO']
            assert list(flow.ports_by_protocol) == [devkit_protocol]
            assert client.address.protocol == devkit_protocol
        """
    )
    result = project.runpytest_subprocess("-v", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        [
            "*test_upper?thread-grpc? PASSED*",
            "*test_upper?thread-http? PASSED*",
            "*test_upper?thread-websocket? PASSED*",
        ]
    )
    result.assert_outcomes(passed=3)


def test_protocol_marker_alone_and_client_factory_protocol(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_protocols="""
        import pytest
        from docarray import DocList
        from executors import TextDoc, Upper

        @pytest.mark.devkit_protocols('http', 'websocket')
        def test_deployment(deployment_factory, client_factory):
            with deployment_factory(Upper) as dep:
                docs = client_factory(dep).post('/', TextDoc(text='a'), return_type=DocList[TextDoc])
            assert docs.text == ['A']

        def test_unmarked_is_grpc(devkit_protocol, flow_factory, client_factory):
            assert devkit_protocol == 'grpc'
            with flow_factory(protocol=['grpc', 'http']).add(uses=Upper) as flow:
                over_http = client_factory(flow, protocol='http')
                assert over_http.address.protocol == 'http'
                assert over_http.post('/', TextDoc(text='b'), return_type=DocList[TextDoc]).text == ['B']
                with pytest.raises(ValueError, match="does not serve 'websocket'.*protocol='websocket'"):
                    client_factory(flow, protocol='websocket')
        """
    )
    result = project.runpytest_subprocess("-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_unknown_protocol_in_the_marker_is_a_usage_error(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_unknown="""
        import pytest

        @pytest.mark.devkit_protocols('smtp')
        def test_unknown():
            pass
        """
    )
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*devkit_protocols got unknown protocol(s)*smtp*choose from*"])
    assert result.ret == pytest.ExitCode.INTERRUPTED  # a collection error stops the run
