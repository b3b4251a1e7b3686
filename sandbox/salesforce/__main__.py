"""`python -m sandbox.salesforce`: serve the simulator until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

import psycopg

from sandbox.salesforce.simulator import SalesforceSimulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.salesforce", description="Serve the Salesforce simulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--dsn", required=True, help="Postgres database holding the state")
    parser.add_argument("--certs-dir", type=Path, required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    simulator = SalesforceSimulator(
        args.dsn, args.port, args.certs_dir, args.client_id, args.client_secret,
        host=args.host, verbose=args.verbose,
    )
    try:
        simulator.start()
    except (OSError, psycopg.Error, ValueError) as error:
        print(f"salesforce simulator: cannot start: {error}", file=sys.stderr)
        return 3
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    print(f"salesforce simulator listening on {simulator.url}", flush=True)
    while not stopping.wait(0.5):
        pass
    simulator.stop()
    print("salesforce simulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
