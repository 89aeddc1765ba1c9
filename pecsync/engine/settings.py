"""The narrow settings the engine hands to ``sync/``, built once from the configuration."""

from __future__ import annotations

from pecsync.config import Config
from pecsync.sync.settings import MailboxSettings


def mailbox_settings(cfg: Config) -> MailboxSettings:
    """What copying a mailbox needs of *cfg* (see :mod:`pecsync.sync.settings`)."""
    return MailboxSettings(source=cfg.source, destination=cfg.destination, engine=cfg.engine,
                           folders=cfg.folders, providers=cfg.providers,
                           switch_at=cfg.switch_at)
