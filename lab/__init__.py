"""Throwaway Dovecot servers for pecsync's tests, demo and benchmark (not part of the package)."""
