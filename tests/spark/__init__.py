"""`make test-spark`: the RDS -> Salesforce slice built on a local Spark session and
compared, row for row, with its Postgres build of the same raw tables (scripts/test_spark.sh).

These are scripts the make target runs (`python -m tests.spark.<module>`), not pytest
modules: they need PySpark and Java, which `make test` does not install.
"""
