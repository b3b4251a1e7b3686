"""`python -m sandbox.servicefusion`: serve the simulator until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

import psycopg

from sandbox.servicefusion.simulator import ServiceFusionSimulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.servicefusion", description="Serve the ServiceFusion simulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8444)
    parser.add_argument("--dsn", required=True, help="Postgres database holding the state")
    parser.add_argument("--certs-dir", type=Path, required=True)
    # Credentials come in a file only: a secret in argv shows in `ps`, and a value
    # starting with `-` reads to argparse as an option.
    parser.add_argument(
        "--credentials-file", type=Path, required=True,
        help="file of two lines, the client id then the client secret",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    try:
        lines = args.credentials_file.read_text().splitlines()
    except OSError as error:
        parser.error(f"--credentials-file: {error.strerror}: {args.credentials_file}")
    if len(lines) < 2 or not lines[0].strip() or not lines[1].strip():
        parser.error(f"--credentials-file: {args.credentials_file} must hold two lines")
    client_id, client_secret = lines[0].strip(), lines[1].strip()
    simulator = ServiceFusionSimulator(
        args.dsn, args.port, args.certs_dir, client_id, client_secret,
        host=args.host, verbose=args.verbose,
    )
    try:
        simulator.start()
    except (OSError, psycopg.Error, ValueError) as error:
        print(f"servicefusion simulator: cannot start: {error}", file=sys.stderr)
        return 3
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    print(f"servicefusion simulator listening on {simulator.url}", flush=True)
    while not stopping.wait(0.5):
        pass
    simulator.stop()
    print("servicefusion simulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
