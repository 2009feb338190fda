"""Sending webhooks: a kept-alive connection the app closed meanwhile is retried once."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from phone_network.webhooks import Unreachable, WebhookClient

OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 11\r\n\r\n<Response/>"


@pytest.fixture
def flaky_server() -> Iterator[tuple[str, list[int]]]:
    """Answers the first request on a connection, then drops that connection at the next
    request (as a server whose keep-alive timeout just ran out); new connections work."""
    listener = socket.create_server(("127.0.0.1", 0))
    served: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    def handle(conn: socket.socket) -> None:
        with conn:
            for n in range(2):
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                if n == 1:
                    return  # the second request on this connection: closed without a reply
                served.append(1)
                conn.sendall(OK)

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook", served
    listener.close()


def test_a_stale_kept_alive_connection_is_retried_on_a_new_one(
    flaky_server: tuple[str, list[int]],
) -> None:
    url, served = flaky_server
    with WebhookClient("token") as client:
        assert client.send(url, "POST", {"CallSid": "CA1"}).ok
        assert client.send(url, "POST", {"CallSid": "CA1"}).ok  # dropped, then retried
    assert len(served) == 2


def test_an_app_that_is_down_is_unreachable() -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    with WebhookClient("token") as client, pytest.raises(Unreachable, match="cannot connect"):
        client.send(f"http://127.0.0.1:{port}/hook", "POST", {})
