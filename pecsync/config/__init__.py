"""Configuration: one TOML file, validated up front.

Every error names the file, the table and the key, e.g.
``config.toml: [source] port: expected an integer from 1 to 65535, got "imap"``.
Passwords never live in this file: they come from the environment, a file, a
prompt or the credential store.

settings.py declares every key once (declare.py: how), values.py the values TOML has no
type for, tables.py the checks that span keys, load.py the file as a whole.  Import from
here: ``from pecsync.config import Config, load_config``.
"""

from pecsync.config.load import load_config
from pecsync.config.settings import (
    AdminConfig,
    CampaignConfig,
    Config,
    EngineConfig,
    FolderRulesConfig,
    IntakeConfig,
    MigrationConfig,
    OrderInfo,
    PostgresTarget,
    ProviderProfile,
    Security,
    ServerConfig,
    SmtpConfig,
    StateConfig,
    is_postgres_url,
)
from pecsync.config.values import parse_duration

__all__ = ["AdminConfig", "CampaignConfig", "Config", "EngineConfig", "FolderRulesConfig",
           "IntakeConfig", "MigrationConfig", "OrderInfo", "PostgresTarget", "ProviderProfile",
           "Security", "ServerConfig", "SmtpConfig", "StateConfig", "is_postgres_url",
           "load_config", "parse_duration"]
