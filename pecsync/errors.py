"""The exception hierarchy: every error says which mailbox and folder it concerns.

Errors are typed by what the operator or member must do next (``kind``: configuration,
credentials, 2-step verification, destination full, transient, a refused message ...; the
engine's failure table maps them to job states) and carry the context an operator needs to
act.  Nothing here ever holds a password: callers pass addresses and folder names only.
"""

from __future__ import annotations


class PecsyncError(Exception):
    """pecsync failed."""

    #: Short, stable machine name of the error class (used in job records and reports).
    kind: str = "error"

    def __init__(
        self,
        message: str | None = None,
        *,
        mailbox: str | None = None,
        folder: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.detail = message or (self.__doc__ or "").strip().splitlines()[0]
        self.mailbox = mailbox
        self.folder = folder
        self.hint = hint
        super().__init__(self.describe())

    def describe(self, *, with_mailbox: bool = True) -> str:
        """``mailbox rossi@pec.example: folder INBOX: destination over quota — raise it``"""
        parts = []
        if self.mailbox and with_mailbox:
            parts.append(f"mailbox {self.mailbox}")
        if self.folder:
            parts.append(f"folder {self.folder}")
        parts.append(self.detail)
        text = ": ".join(parts)
        if self.hint:
            text += f" — {self.hint}"
        return text

    def __str__(self) -> str:
        return self.describe()

    @property
    def reason(self) -> str:
        """What a job records as its reason: :meth:`describe` without the leading
        ``mailbox ADDRESS: `` (every place that shows a job's reason names the mailbox
        already; the log line of the exception keeps it).

        >>> e = PecsyncError("destination over quota", mailbox="a@b.it", folder="INBOX")
        >>> e.reason
        'folder INBOX: destination over quota'
        """
        return self.describe(with_mailbox=False)


class ConfigError(PecsyncError):
    """The configuration is invalid."""

    kind = "config"


class UsageError(PecsyncError):
    """The command was called wrongly."""

    kind = "usage"


class StoreError(PecsyncError):
    """The state database cannot be used."""

    kind = "store"


class StoreConflict(StoreError):
    """Another writer got there first (a uniqueness constraint): read again and retry."""

    kind = "store_conflict"


class LeaseLost(PecsyncError):
    """Another process took this job over: this process was stalled (suspended, stopped)
    past the job's lease.  This copy stops and writes nothing more to the job."""

    kind = "lease_lost"


class ImapError(PecsyncError):
    """The IMAP server refused a command."""

    kind = "imap"

    def __init__(
        self,
        message: str | None = None,
        *,
        mailbox: str | None = None,
        folder: str | None = None,
        hint: str | None = None,
        side: str | None = None,
        response: str | None = None,
    ) -> None:
        #: "src" or "dst": which server answered.
        self.side = side
        #: The server's response text (never contains credentials: we never echo LOGIN).
        self.response = response
        super().__init__(message, mailbox=mailbox, folder=folder, hint=hint)


class TransientError(ImapError):
    """The connection failed or the server is temporarily unavailable (retry later)."""

    kind = "transient"


class LoginDeferred(TransientError):
    """The server answered LOGIN with a temporary refusal (``[UNAVAILABLE]`` and the like).
    Still a refused LOGIN: never tried again within an attempt, only at the next one."""


class AuthenticationFailed(ImapError):
    """The server refused the login (wrong or changed password)."""

    kind = "auth_failed"


class TwoFactorRequired(ImapError):
    """The server refused the login by policy (2-step verification or similar)."""

    kind = "twofa"


class DestinationFull(ImapError):
    """The destination mailbox is over quota."""

    kind = "dst_full"


class FolderError(ImapError):
    """A folder cannot be opened or created."""

    kind = "folder"


class TlsError(ImapError):
    """The TLS connection could not be established or verified."""

    kind = "tls"


class VerificationFailed(PecsyncError):
    """The destination copy differs from the source."""

    kind = "verify"


class MessageRefused(ImapError):
    """The destination refused this message (too large, malformed or over a limit)."""

    kind = "message_refused"


class StopRequested(PecsyncError):
    """Stopped on request after the batch in flight; checkpoints are saved."""

    kind = "interrupted"
