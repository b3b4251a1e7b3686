"""`python -m sandbox.servicefusion`: serve the simulator until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sandbox.https_simulator import read_credentials, serve_until_signalled
from sandbox.servicefusion.simulator import ServiceFusionSimulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.servicefusion", description="Serve the ServiceFusion simulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8445)
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
    client_id, client_secret = read_credentials(parser, args.credentials_file)
    simulator = ServiceFusionSimulator(
        args.dsn, args.port, args.certs_dir, client_id, client_secret,
        host=args.host, verbose=args.verbose,
    )
    return serve_until_signalled(simulator, "servicefusion")


if __name__ == "__main__":
    sys.exit(main())
