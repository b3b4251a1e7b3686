"""HTTPS plumbing: TLS per connection, keep-alive, dispatch to API or admin, drops."""

from __future__ import annotations

import json

import psycopg

from sandbox.https_simulator import SimulatorHandler, drop_connection
from sandbox.salesforce.messages import Reply, Request


class _Handler(SimulatorHandler):
    server_version = "SalesforceSimulator/1.0"

    def dispatch(self) -> None:
        path, query, headers, body = self.read_request()
        request = Request(self.command, path, query, headers, body)
        simulator = self.server.simulator
        try:
            if path.startswith("/__sandbox/"):
                reply = simulator.admin.handle(request)
            else:
                reply = simulator.api.handle(request)
        except psycopg.Error as error:
            reply = Reply(500, [{"errorCode": "UNKNOWN_EXCEPTION",
                                 "message": f"simulator state store failed: {error}"}])
        if reply.drop:
            self._drop()
        else:
            self._send(reply)

    def _send(self, reply: Reply) -> None:
        headers = dict(reply.headers)
        content_type = headers.pop("Content-Type", "application/json;charset=UTF-8")
        if isinstance(reply.body, str):
            data = reply.body.encode()  # Bulk API 2.0 results: CSV as it is
        else:
            data = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        if self.close_connection:
            # Say so: without the header an HTTP/1.1 client pools the socket and may
            # send its next request into the close that follows.
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        drop_connection(self)
