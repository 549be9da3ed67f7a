"""Shared fixtures: one tuned local SparkSession for the whole suite, lakes in temp folders."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from lakejobs.config import Settings, SparkSettings, settings_from_mapping
from lakejobs.session import build_local_session

STANDINS = Path(__file__).parent / "standins"

# Naive datetimes in test literals mean UTC, as everywhere in the lake; pyspark converts them
# with the process time zone, so pin it.
os.environ["TZ"] = "UTC"
time.tzset()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files holding ``slow`` tests first. Parallel workers (pytest-xdist, ``--dist loadfile``)
    take whole files in this order, so the longest files start early instead of running alone
    at the end."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)  # stable: file order otherwise kept


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """The suite's only SparkSession, built by lakejobs' own factory (so the factory is tested).

    Settings, and why:
    - local[2]: the CI machine has 2 cores.
    - shuffle_partitions=2: test tables have tens of rows; 200 partitions would cost seconds per
      shuffle for nothing.
    - UI off: no port to bind, less start-up work.
    - tiny_tables: no JIT compilation of huge generated methods, no Python call site recorded
      per DataFrame call (as for the demo).
    - warehouse in a temp folder: CREATE TABLE in a test never writes into the checkout.
    """
    warehouse = tmp_path_factory.mktemp("warehouse")
    settings = SparkSettings(
        master="local[2]",
        app_name="lakejobs-tests",
        shuffle_partitions=2,
        ui_enabled=False,
        tiny_tables=True,
        conf={
            "spark.sql.warehouse.dir": str(warehouse),
            # Delta checkpoints every 10 commits by default; tests commit often, and a
            # checkpoint of a tiny table costs more than it saves.
            "spark.databricks.delta.checkpointInterval": "100",
            # Delta rebuilds a table's state with 50 partitions by default: 50 tasks for a log
            # of a few files, on every read and commit of every test table.
            "spark.databricks.delta.snapshotPartitions": "2",
        },
    )
    session = build_local_session(settings)
    yield session
    session.stop()


@pytest.fixture
def lake_root(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def settings(lake_root: Path) -> Settings:
    """Dev settings with the lake in a temp folder."""
    return settings_from_mapping({"lake": {"root": str(lake_root)}}, source="test", env="dev",
                                 environ={})


@pytest.fixture
def config_file(tmp_path: Path, lake_root: Path) -> Path:
    """A dev config file whose lake lives in a temp folder."""
    path = tmp_path / "dev.yaml"
    path.write_text(f"env: dev\nlake:\n  root: {lake_root}\n", encoding="utf-8")
    return path


@pytest.fixture
def glue_standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[list]:
    """Make the stand-in ``awsglue`` importable, as on AWS Glue; yields its call record."""
    monkeypatch.syspath_prepend(str(STANDINS))
    import awsglue

    awsglue.CALLS.clear()
    yield awsglue.CALLS
    for name in [m for m in sys.modules if m == "awsglue" or m.startswith("awsglue.")]:
        del sys.modules[name]


# The Kafka broker. Its import sits here rather than at the top so that the section can be
# added and reviewed as one block without touching the fixtures above.
from lakejobs.local_kafka import LocalKafka  # noqa: E402


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """A real Kafka broker (KRaft, official jars from Maven Central) for the whole session.

    Started on first use, so a run that selects no Kafka test does not pay for it; stopped at the
    end of the session (and by atexit if the session crashes).
    """
    with LocalKafka(tmp_path_factory.mktemp("kafka")) as broker:
        yield broker
