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
    # The stack passes the credentials as a file: a secret in argv shows in `ps`, and a
    # value starting with `-` reads to argparse as an option ("expected one argument").
    parser.add_argument(
        "--credentials-file", type=Path,
        help="file of two lines, the client id then the client secret (what the stack uses)",
    )
    parser.add_argument("--client-id", help="instead of --credentials-file")
    parser.add_argument(
        "--client-secret",
        help="instead of --credentials-file; write --client-secret=VALUE when VALUE starts with -",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    client_id, client_secret = args.client_id, args.client_secret
    if args.credentials_file is not None:
        if client_id or client_secret:
            parser.error("give --credentials-file or --client-id/--client-secret, not both")
        try:
            lines = args.credentials_file.read_text().splitlines()
        except OSError as error:
            parser.error(f"--credentials-file: {error.strerror}: {args.credentials_file}")
        if len(lines) < 2 or not lines[0].strip() or not lines[1].strip():
            parser.error(f"--credentials-file: {args.credentials_file} must hold two lines")
        client_id, client_secret = lines[0].strip(), lines[1].strip()
    if not client_id or not client_secret:
        parser.error("give --credentials-file, or both --client-id and --client-secret")
    simulator = SalesforceSimulator(
        args.dsn, args.port, args.certs_dir, client_id, client_secret,
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
