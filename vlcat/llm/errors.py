"""Errors of the LLM subsystem.

All derive from ``LLMError`` so that the catalyst can treat "the LLM could not help this time" as one
case (``except LLMError``) and carry on training, while tools and tests can still tell the causes apart.
Every message is one line and says what to do, because it ends up in a run log or a terminal.
"""

from __future__ import annotations

from vlcat.errors import VlcatError


def one_line(text: str, limit: int = 800) -> str:
    """Collapse whitespace so a multi-line server message cannot break the one-line contract."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class LLMError(VlcatError):
    """Anything that stopped the LLM from giving a usable answer."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


class LLMConnectionError(LLMError):
    """The server could not be reached, refused the connection, or dropped it mid-request."""


class LLMTimeoutError(LLMError):
    """The server accepted the request but did not answer within the client's timeout."""


class LLMHTTPError(LLMError):
    """The server answered with an HTTP error status; ``status_code`` keeps the number."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class LLMAuthError(LLMHTTPError):
    """401/403: the server wants a different API key."""


class LLMModelNotFoundError(LLMHTTPError):
    """404: the server does not serve a model of the requested name."""


class LLMBadRequestError(LLMHTTPError):
    """400/422: the server rejected the request itself (e.g. prompt too long for the context)."""


class LLMServerError(LLMHTTPError):
    """5xx or 429 that persisted through all retries."""


class LLMInvalidContentError(LLMError):
    """The reply is not JSON, or not JSON of the requested schema."""


class LLMEmptyResponseError(LLMError):
    """The server answered without any choice."""


class LLMServerStartError(LLMError):
    """The vLLM server process died or did not become ready in time."""


class LLMSetupError(LLMError):
    """The LLM venv or the default model is missing or could not be prepared."""
