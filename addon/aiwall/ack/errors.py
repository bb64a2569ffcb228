"""What can go wrong with an acknowledgement: one hierarchy, so that "the store is down" is
never taken for "the token is bad", and the proxy can say which it was."""


class AckError(Exception):
    """An acknowledgement that was not recorded; `reason` says why, in words for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidToken(AckError):
    """A token that was refused: malformed, expired, replayed, for another identity or rule."""


class JustificationRequired(InvalidToken):
    """The token is good but the rule wants a justification and the one given is too short.

    The nonce is not spent: the page can ask again and post the same token.
    """


class StoreUnavailable(AckError):
    """The store did not answer or answered with an error: nothing was recorded."""

    def __init__(self) -> None:
        super().__init__("acknowledgement store unavailable")
