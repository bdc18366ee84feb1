"""What can go wrong on an AMI link, as the rest of the product sees it (never with a secret)."""

from __future__ import annotations


class AmiError(Exception):
    """Base of every AMI adapter error."""


class AmiNotConnected(AmiError):
    """No logged-in connection to the PBX right now."""


class AmiConnectionLost(AmiError):
    """The connection went away while an action was waiting for its answer."""


class AmiActionTimeout(AmiError):
    """The PBX did not answer an action within its deadline."""


class AmiActionFailed(AmiError):
    """The PBX answered an action with ``Response: Error``."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"{action} refused by the PBX: {message or 'no reason given'}")
        self.action = action
        self.reason = message


class AmiLoginFailed(AmiError):
    """The PBX refused the account (the message names the user, never the secret)."""
