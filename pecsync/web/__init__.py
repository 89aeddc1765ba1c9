"""The members' front door: the self-service intake page (``pecsync serve``)."""
