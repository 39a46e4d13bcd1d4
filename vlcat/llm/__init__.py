"""The local LLM: an OpenAI-compatible client and the vLLM server launcher.

Importing this package starts nothing and imports neither ``openai`` nor vLLM; ``client``, ``serve``
and ``model`` are loaded by the names below. All failures are ``LLMError`` subclasses.
"""

from vlcat.llm.client import ChatRequest, ChatResult, Choice, HealthStatus, LLMClient, validate_text
from vlcat.llm.errors import (
    LLMAuthError,
    LLMBadRequestError,
    LLMConnectionError,
    LLMEmptyResponseError,
    LLMError,
    LLMHTTPError,
    LLMInvalidContentError,
    LLMModelNotFoundError,
    LLMServerError,
    LLMServerStartError,
    LLMSetupError,
    LLMTimeoutError,
)
from vlcat.llm.model import DEFAULT_CUDA_MODEL, ResolvedModel, prepare_default_model, resolve_model
from vlcat.llm.serve import ServerConfig, ServerHandle, check_endpoint, find_running, start_server

__all__ = [
    "DEFAULT_CUDA_MODEL",
    "ChatRequest",
    "ChatResult",
    "Choice",
    "HealthStatus",
    "LLMAuthError",
    "LLMBadRequestError",
    "LLMClient",
    "LLMConnectionError",
    "LLMEmptyResponseError",
    "LLMError",
    "LLMHTTPError",
    "LLMInvalidContentError",
    "LLMModelNotFoundError",
    "LLMServerError",
    "LLMServerStartError",
    "LLMSetupError",
    "LLMTimeoutError",
    "ResolvedModel",
    "ServerConfig",
    "ServerHandle",
    "check_endpoint",
    "find_running",
    "prepare_default_model",
    "resolve_model",
    "start_server",
    "validate_text",
]
