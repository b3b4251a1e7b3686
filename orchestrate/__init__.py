"""The Dagster code location of propsync (optional extra `orchestrate`; docs/orchestrate.md).

Every dlt source, dbt model and registered push pass is an asset with its real
dependencies; `orchestrate.definitions` is what `dagster dev -m` loads. Nothing
outside this package imports it, so the product runs without Dagster installed.
"""
