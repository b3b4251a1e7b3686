"""`python -m sandbox.salesforce`: serve the simulator until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sandbox.https_simulator import read_credentials, serve_until_signalled
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
        client_id, client_secret = read_credentials(parser, args.credentials_file)
    if not client_id or not client_secret:
        parser.error("give --credentials-file, or both --client-id and --client-secret")
    simulator = SalesforceSimulator(
        args.dsn, args.port, args.certs_dir, client_id, client_secret,
        host=args.host, verbose=args.verbose,
    )
    return serve_until_signalled(simulator, "salesforce")


if __name__ == "__main__":
    sys.exit(main())
