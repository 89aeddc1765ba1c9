"""``pecsync serve``: the members' intake page, served by uvicorn.

The CLI parses the arguments; this command is handed to it by ``pecsync.__main__`` (the two
front doors, ``cli`` and ``web``, never import each other)."""

from __future__ import annotations

import argparse
import sys

from pecsync.config import Config
from pecsync.errors import UsageError

DEFAULT_LISTEN = "127.0.0.1:8080"


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--listen {text!r}: expected HOST:PORT, e.g. {DEFAULT_LISTEN}")
    return host, int(port)


async def cmd_serve(cfg: Config, args: argparse.Namespace) -> int:
    import uvicorn

    from pecsync.web.app import create_app

    host, port = parse_listen(args.listen)
    app = create_app(cfg)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            server_header=False, proxy_headers=False, lifespan="on",
                            # No access log: status links carry a secret token in the path.
                            )
    server = uvicorn.Server(config)
    sys.stderr.write(f"pecsync serve: intake page on http://{host}:{port}/ (database "
                     f"{cfg.state}); Ctrl-C stops\n")
    await server.serve()
    return 0
