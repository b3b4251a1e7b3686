"""HTTPS plumbing: TLS per connection, keep-alive, dispatch to API or admin, drops, delays."""

from __future__ import annotations

import json
import time
import traceback

import psycopg

from sandbox.https_simulator import SimulatorHandler, drop_connection
from sandbox.servicefusion.messages import ApiError, Reply, Request


class _Handler(SimulatorHandler):
    server_version = "nginx"  # what the real API answers in `Server`

    def version_string(self) -> str:
        return self.server_version

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
            reply = ApiError(500, f"simulator state store failed: {error}").reply()
        except Exception as error:  # a simulator bug: answer 500 rather than hang up
            if simulator.verbose:
                traceback.print_exc()
            reply = ApiError(500, f"simulator error: {type(error).__name__}: {error}").reply()
        if reply.delay_s > 0:
            # Outside the store lock (taken and released in handle): a slow answer holds
            # up only its own connection, as on the real service.
            time.sleep(reply.delay_s)
        if reply.drop:
            self._drop()
        else:
            self._send(reply)

    def _send(self, reply: Reply) -> None:
        if reply.html is not None:
            data = reply.html.encode()
            content_type = "text/html; charset=UTF-8"
        else:
            data = b"" if reply.body is None else json.dumps(reply.body).encode()
            content_type = "application/json; charset=UTF-8"
        self.send_response(reply.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            # Say so: without the header an HTTP/1.1 client pools the socket and may
            # send its next request into the close that follows.
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        drop_connection(self)
