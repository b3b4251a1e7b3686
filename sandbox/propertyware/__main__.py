"""`python -m sandbox.propertyware`: serve the simulator until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sandbox.https_simulator import read_credentials, serve_until_signalled
from sandbox.propertyware.simulator import PropertyWareSimulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.propertyware", description="Serve the PropertyWare simulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8444)
    parser.add_argument("--dsn", required=True, help="Postgres database holding the state")
    parser.add_argument("--certs-dir", type=Path, required=True)
    # Only as a file: a password in argv shows in `ps`, and a value starting with `-`
    # reads to argparse as an option.
    parser.add_argument(
        "--credentials-file", type=Path, required=True,
        help="file of two lines, the API user's name then its password (HTTP Basic)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    username, password = read_credentials(parser, args.credentials_file)
    try:
        simulator = PropertyWareSimulator(
            args.dsn, args.port, args.certs_dir, username, password,
            host=args.host, verbose=args.verbose,
        )
    except ValueError as error:
        print(f"propertyware simulator: cannot start: {error}", file=sys.stderr)
        return 3
    return serve_until_signalled(simulator, "propertyware")


if __name__ == "__main__":
    sys.exit(main())
