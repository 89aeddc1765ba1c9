"""pecsync: byte-exact, resumable IMAP migration of PEC mailboxes."""

__version__ = "0.1.0"
