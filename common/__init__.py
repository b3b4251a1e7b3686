"""What `extract/` and `reverse_etl/` share, and nothing else: configuration,
secret redaction, the HTTP policy stack and the product feature list.

`sandbox/` imports none of it: a simulator that shared code with its clients
would agree with their bugs (import-linter contracts in pyproject.toml).
"""
