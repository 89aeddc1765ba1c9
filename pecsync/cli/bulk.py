"""The bulk commands, as ``pecsync.cli.main`` dispatches to them; each lives in a module of
its own:

* ``import``: :mod:`pecsync.cli.importlist`
* ``run``: :mod:`pecsync.cli.run`
* ``retry``: :mod:`pecsync.cli.retry`
* ``status``: :mod:`pecsync.cli.status`
* ``init-key``, ``rotate-key``, ``purge-credentials`` and the stored destination password of
  ``copy``: :mod:`pecsync.cli.keys`
* what they share (job states, vault, master passwords, wordings): :mod:`pecsync.cli.common`
"""

from __future__ import annotations

from pecsync.cli.importlist import cmd_import
from pecsync.cli.keys import cmd_init_key, cmd_purge, cmd_rotate_key, stored_dest_password
from pecsync.cli.retry import cmd_retry
from pecsync.cli.run import cmd_run
from pecsync.cli.status import cmd_status

__all__ = ["cmd_import", "cmd_init_key", "cmd_purge", "cmd_retry", "cmd_rotate_key", "cmd_run",
           "cmd_status", "stored_dest_password"]
