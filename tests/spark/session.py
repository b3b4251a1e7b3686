"""The local Spark session of `make test-spark`, configured as profiles.yml.example's
`spark` target configures dbt's: the same Hive metastore (Derby) and warehouse folder
under PROPSYNC_SPARK_DIR, so the tables this process writes are the ones dbt reads, and
the same session time zone. Derby is embedded: one process at a time holds the
metastore, so each caller stops its session before the next process starts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_SPARK_DIR = ".local/spark"


def spark_dir() -> Path:
    return Path(os.environ.get("PROPSYNC_SPARK_DIR", DEFAULT_SPARK_DIR))


def spark_session(app_name: str) -> SparkSession:
    from pyspark.sql import SparkSession

    folder = spark_dir()
    return (
        SparkSession.builder.appName(app_name)
        .enableHiveSupport()
        .config("spark.sql.warehouse.dir", f"{folder}/warehouse")
        .config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={folder}/metastore_db;create=true",
        )
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={folder}")
        .config("spark.sql.session.timeZone", os.environ.get("PROPSYNC_SPARK_TIMEZONE", "UTC"))
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.constraintPropagation.enabled", "false")
        # dbt-spark sets it too (connections.py): the same SQL semantics in both processes
        .config("spark.sql.ansi.enabled", "false")
        .getOrCreate()
    )
