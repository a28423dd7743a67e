"""The listening socket of `serve` and `share-registry`, bound before anything heavy is imported."""

import errno
import socket

from .config import SettingsError


def listening_socket(host: str, port: int) -> socket.socket:
    """Bound here, before the app starts, so a bad HOST or a busy port is one clear error."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (OSError, UnicodeError) as error:  # socket.gaierror; UnicodeError for "a..b"
        raise SettingsError(
            f"HOST={host}: not an address or a name this machine resolves ({error}):"
            " set HOST to an address of this machine, e.g. HOST=0.0.0.0"
        ) from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRNOTAVAIL:
            raise SettingsError(
                f"HOST={host}: cannot listen on {host} ({error.strerror}): set HOST to an"
                " address of this machine, e.g. HOST=0.0.0.0"
            ) from None
        raise SettingsError(
            f"PORT={port}: cannot listen on {host}:{port} ({error.strerror}):"
            " stop what uses the port or set PORT to a free one"
        ) from None
    return sock
