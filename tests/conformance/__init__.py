"""The destination conformance suite: the pass semantics, tested once per destination.

Each destination implements `DestinationHarness` (harness.py) once, against its
simulator, and joins the suite by one entry in `HARNESSES` (conftest.py); every test
of test_destination_conformance.py then runs against it.
"""
