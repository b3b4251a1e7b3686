"""HTTPS plumbing: TLS per connection, keep-alive with a per-connection request count,
dispatch to the service or the admin API, resets and slow answers."""

from __future__ import annotations

import time

import psycopg

from sandbox.https_simulator import SimulatorHandler, drop_connection
from sandbox.propertyware import soap
from sandbox.propertyware.messages import Reply, Request, SoapFault


class _Handler(SimulatorHandler):
    server_version = "Apache-Coyote/1.1"  # Tomcat, in front of Axis

    def setup(self) -> None:
        super().setup()
        self.served_on_connection = 0

    def dispatch(self) -> None:
        path, query, headers, body = self.read_request()
        request = Request(
            self.command, path, query, headers, body,
            earlier_on_connection=self.served_on_connection,
        )
        self.served_on_connection += 1
        simulator = self.server.simulator
        try:
            if path.startswith("/__sandbox/"):
                reply = simulator.admin.handle(request)
            else:
                reply = simulator.api.handle(request)
        except psycopg.Error as error:
            reply = Reply(500, soap.fault(SoapFault(
                f"java.sql.SQLException: simulator state store failed: {error}")))
        except Exception as error:  # a bug, or a fixture value of the wrong type
            # Answered, not dropped: a silent close would pass for the reset fault.
            reply = Reply(500, soap.fault(SoapFault(
                f"java.lang.RuntimeException: simulator error: {error!r}")))
        if reply.drop:
            self._reset()
            return
        if reply.delay_s > 0:
            time.sleep(reply.delay_s)
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            # Say so, as Tomcat does: without the header an HTTP/1.1 client pools the
            # socket and may send its next request into the close that follows.
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply.body)

    def _reset(self) -> None:
        # The client's reused socket dies under it, as production users see.
        drop_connection(self)
