"""The network's HTTP face: Twilio's REST subset and the control API, served on loopback."""

from __future__ import annotations

import socket
import threading

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from phone_network import control_api, rest_api
from phone_network.network import PhoneNetwork
from phone_network.rest_api import Credentials


def create_network_app(net: PhoneNetwork, credentials: Credentials) -> Flask:
    """A Flask app (not ours: the network's) serving `net` to holders of `credentials`."""
    app = Flask("phone_network")
    app.extensions["phone-network"] = net
    app.extensions["phone-network-credentials"] = credentials
    app.register_blueprint(rest_api.bp)
    app.register_blueprint(control_api.bp)
    return app


def _listening_socket(host: str, port: int) -> socket.socket:
    """Bind here, so a port in use raises OSError (werkzeug would exit the process instead)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


class NetworkServer:
    """Serves a network over HTTP from a background thread; the network's base URL follows."""

    def __init__(self, net: PhoneNetwork, credentials: Credentials, *, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.net = net
        with _listening_socket(host, port) as sock:  # the server adopts a duplicate
            self._server: BaseWSGIServer = make_server(
                host, port, create_network_app(net, credentials), threaded=True,
                fd=sock.fileno())
        self.url = f"http://{host}:{self._server.port}"
        net.base_url = self.url
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.port

    def start(self) -> NetworkServer:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name="phone-network-http")
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (the `phone-network` command)."""
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving, then hang up every call still on the network (see PhoneNetwork.close)."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()
        self.net.close(timeout)

    def __enter__(self) -> NetworkServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
