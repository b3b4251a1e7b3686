"""Deterministic demo and test data for the sandbox sources (see `rds`)."""

from sandbox.generate.rds import (
    EDGE_CASES,
    EdgeCase,
    GeneratedRds,
    MutationSummary,
    generate_rds,
    initial_salesforce_records,
    mutate_rds,
)

__all__ = [
    "EDGE_CASES",
    "EdgeCase",
    "GeneratedRds",
    "MutationSummary",
    "generate_rds",
    "initial_salesforce_records",
    "mutate_rds",
]
