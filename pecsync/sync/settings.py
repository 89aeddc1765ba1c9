"""What copying one mailbox needs from the configuration, and nothing else.

Like dsync's per-mailbox settings: the two servers, the engine's knobs, the folder rules, the
providers' refusal wordings and the switch-over moment.  Built once per run by the engine
(:func:`pecsync.engine.settings.mailbox_settings`), so ``sync/`` never sees the whole
configuration (the state database, the web pages, the reports' SMTP server ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pecsync.config import EngineConfig, FolderRulesConfig, ProviderProfile, ServerConfig


@dataclass(frozen=True)
class MailboxSettings:
    source: ServerConfig
    destination: ServerConfig
    engine: EngineConfig = field(default_factory=EngineConfig)
    folders: FolderRulesConfig = field(default_factory=FolderRulesConfig)
    #: ``[providers.NAME]``: refusal wordings checked before the built-in table.
    providers: tuple[ProviderProfile, ...] = ()
    #: ``[migration] switch_at``: from then on the members own the destination's flags.
    switch_at: datetime | None = None
