"""What the bulk commands share: the job states in order, the vault and the master
passwords from the configuration, and the wording of a mailbox's reason and of an unknown
order."""

from __future__ import annotations

import sys
from collections import Counter

from pecsync.cli.passwords import read_password
from pecsync.config import Config
from pecsync.engine.outcome import next_step
from pecsync.errors import UsageError
from pecsync.model import Secret
from pecsync.store.jobs import Job, JobState
from pecsync.vault import Vault, load_key

STATES = [s.value for s in JobState]


def vault_for(cfg: Config) -> Vault:
    return Vault(load_key(cfg.key_file))


def master_passwords(cfg: Config) -> tuple[Secret | None, Secret | None]:
    src = dst = None
    if cfg.source.master_user:
        src = read_password(env="PECSYNC_SOURCE_PASSWORD", file=None,
                            prompt=f"Source master password ({cfg.source.master_user}): ",
                            what="source master user")
    if cfg.destination.master_user:
        dst = read_password(env="PECSYNC_DEST_PASSWORD", file=None,
                            prompt=f"Destination master password "
                                   f"({cfg.destination.master_user}): ",
                            what="destination master user")
    return src, dst


def unknown_order(order: str, jobs: list[Job]) -> UsageError:
    """``--order`` names no order of the list: say so and list the known ones (exit 2)."""
    known = sorted({j.order for j in jobs})
    listed = ", ".join(repr(o) for o in known) if known else "none (import a list first)"
    return UsageError(f"unknown order {order!r}: the orders in the list are {listed}")


def job_reason(job: Job) -> str:
    """Why a mailbox is where it is: the recorded reason, else the next step for its state,
    else the state itself; never an empty string.  The summary line names the mailbox
    already, so the reason's own leading ``mailbox ADDRESS: `` is left out."""
    if job.error_text and job.error_text.strip():
        text = job.error_text.strip()
        return text.removeprefix(f"mailbox {job.address}: ") or text
    step = next_step(job.state, job.address, job.error_class)
    return f"next step: {step}" if step else job.state.value.replace("_", " ")


def print_counts(states: Counter[str]) -> None:
    parts = [f"{s} {states[s]}" for s in STATES if states[s]]
    sys.stdout.write("  " + (", ".join(parts) or "no mailboxes") + "\n")
