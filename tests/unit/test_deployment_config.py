"""`jtype: Deployment` YAML and Deployment arguments, without starting anything."""

import textwrap

import pytest
import yaml

from devkit import ConfigError, Deployment, Executor, requests
from devkit.spec.models import Polling


class ConfigExecutor(Executor):
    @requests
    def foo(self, docs, **kwargs):
        pass


def test_load_config_reads_the_with_block(tmp_path):
    path = tmp_path / "deployment.yml"
    path.write_text(
        textwrap.dedent(
            """
            jtype: Deployment
            with:
              uses: ConfigExecutor
              name: indexer
              replicas: 2
              shards: 3
              polling: ALL
            """
        )
    )
    dep = Deployment.load_config(str(path))
    assert dep.name == "indexer"
    assert dep.spec.executor.uses == "ConfigExecutor"
    assert (dep.spec.replicas, dep.spec.shards) == (2, 3)
    assert dep.spec.polling == {"*": Polling.ALL}


def test_save_config_round_trips(tmp_path):
    dep = Deployment(
        uses=ConfigExecutor,
        name="indexer",
        replicas=2,
        shards=2,
        polling={"/search": "ALL", "*": "ANY"},
        uses_with={"a": 1},
        uses_metas={"name": "other"},
    )
    path = tmp_path / "saved.yml"
    dep.save_config(str(path))
    assert path.read_text().startswith("jtype: Deployment")
    loaded = Deployment.load_config(str(path))
    assert loaded.name == dep.name
    assert loaded.spec.replicas == 2 and loaded.spec.shards == 2
    assert loaded.spec.polling == dep.spec.polling
    assert loaded.spec.executor.uses_with == {"a": 1}
    assert loaded.spec.executor.uses_metas == {"name": "other"}
    assert loaded.spec.executor.uses.endswith("ConfigExecutor")


def test_save_config_keeps_the_http_options(tmp_path):
    dep = Deployment(
        uses=ConfigExecutor,
        protocol="http",
        title="Indexer",
        description="Indexes documents",
        cors=True,
        no_crud_endpoints=True,
        expose_endpoints={"/foo": {"methods": ["GET"]}},
    )
    path = tmp_path / "saved.yml"
    dep.save_config(path)
    saved = yaml.safe_load(path.read_text())["with"]
    assert saved["title"] == "Indexer" and saved["cors"] is True
    assert "no_debug_endpoints" not in saved  # defaults are left out, as for the other arguments
    assert Deployment.load_config(path).http == dep.http


def test_unknown_jtype_is_a_config_error_with_file_and_line(tmp_path):
    path = tmp_path / "deployment.yml"
    path.write_text("\njtype: Deploymnet\nwith:\n  replicas: 1\n")
    with pytest.raises(ConfigError, match=r"deployment\.yml:2"):
        Deployment.load_config(str(path))


def test_unknown_top_level_key_is_a_config_error_with_file_and_line(tmp_path):
    path = tmp_path / "deployment.yml"
    path.write_text("jtype: Deployment\nwith:\n  replicas: 1\nexecutors: []\n")
    with pytest.raises(ConfigError, match=r"'executors' at .*deployment\.yml:4"):
        Deployment.load_config(str(path))


def test_unknown_argument_is_a_config_error_with_file_and_line(tmp_path):
    path = tmp_path / "deployment.yml"
    path.write_text("jtype: Deployment\nwith:\n  replicas: 1\n  replica: 2\n")
    with pytest.raises(ConfigError, match=r"deployment\.yml:2.*'replica'"):
        Deployment.load_config(str(path))


def test_missing_yaml_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        Deployment.load_config(str(tmp_path / "nope.yml"))


def test_invalid_polling_is_rejected():
    with pytest.raises(ValueError, match="polling"):
        Deployment(uses=ConfigExecutor, polling="SOME")


def test_post_before_start_says_to_start_first():
    with pytest.raises(RuntimeError, match="start the Deployment first"):
        Deployment(uses=ConfigExecutor).post("/")
