"""The terminal warning for a server bound beyond this machine: the dashboard has no login.

``dashboard/.streamlit/config.toml`` binds to localhost; ``--server.address 0.0.0.0`` (or
any address other machines can reach) opens the pages to everyone on the network, who can
then upload checkpoints, delete runs and start jobs. Streamlit runs ``app.py`` only when a
browser opens a page, so the warning is printed the first time the app runs in the
server's process; this module's flag keeps it to once per process, not once per rerun.
"""

from __future__ import annotations

import ipaddress
import sys
from typing import TextIO

_warned = False


def is_loopback(address: str | None) -> bool:
    """True if a server bound to ``address`` can only be reached from this machine.

    Loopback addresses (127.0.0.0/8, ::1, with or without brackets), ``localhost`` and Unix
    sockets (``unix://...``) are; no address (Streamlit then listens on every interface),
    ``0.0.0.0``, ``::``, a network address or any other host name is not (a name may
    resolve to a network address).
    """
    text = str(address or "").strip()
    if text.startswith("unix://"):
        return True
    text = text.removeprefix("[").removesuffix("]")
    if text.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:  # empty, or a host name
        return False


def exposure_warning(address: str | None) -> str | None:
    """The one-line warning for a server bound to ``address``, or None for a loopback one."""
    if is_loopback(address):
        return None
    where = f"bound to {address}" if address else "bound to every network interface"
    return (
        f"WARNING: the dashboard is {where}, so other machines can reach it, and it has no login: "
        "anyone who can reach it can upload, delete and start jobs (bind to localhost unless that is meant)"
    )


def warn_once(address: str | None, stream: TextIO | None = None) -> bool:
    """Print :func:`exposure_warning` to ``stream`` (stderr) once per process; True if it printed now."""
    global _warned
    text = exposure_warning(address)
    if _warned or text is None:
        return False
    _warned = True
    print(text, file=stream or sys.stderr, flush=True)
    return True
