"""Bring every member in before the deadline: personal invitations and reminder waves.

* :mod:`~pecsync.campaign.audience`: who still has to act, and that member's own next step;
* :mod:`~pecsync.campaign.waves`: when each reminder wave falls due;
* :mod:`~pecsync.campaign.compose`: the message (text and HTML, Italian first);
* :mod:`~pecsync.campaign.smtp`: one message to the SMTP server, its answer classified;
* :mod:`~pecsync.campaign.outbox`: enqueue a wave, then send what is queued (durable,
  once per member and wave);

The records live in the state database (:mod:`pecsync.store.campaign`); per order and wave,
who got what and who responded is :mod:`pecsync.reports.campaign` (``status --json`` key
``campaign`` and the daily report).
"""
