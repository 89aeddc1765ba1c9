"""Daily reports, deadline forecast, member notices and completeness certificates.

Reports read the state database only: no IMAP here.
"""
