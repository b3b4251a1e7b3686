# Sourced by scripts/test.sh and scripts/test_spark.sh: a sandbox stack of the run's own
# (a fresh folder under /tmp named after $1, free ports, its own dlt folder), stopped
# and removed when the script exits.
free_port() { python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

SANDBOX_DIR="$(mktemp -d "/tmp/$1.XXXXXX")"
SANDBOX_PG_PORT="$(free_port)"
SANDBOX_SALESFORCE_PORT="$(free_port)"
SANDBOX_PROPERTYWARE_PORT="$(free_port)"
SANDBOX_SERVICEFUSION_PORT="$(free_port)"
export SANDBOX_DIR SANDBOX_PG_PORT SANDBOX_SALESFORCE_PORT SANDBOX_PROPERTYWARE_PORT \
    SANDBOX_SERVICEFUSION_PORT
export DLT_DATA_DIR="$SANDBOX_DIR/dlt"
cleanup() { python -m sandbox down >/dev/null 2>&1 || true; rm -rf "$SANDBOX_DIR"; }
trap cleanup EXIT
