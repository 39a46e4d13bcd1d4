"""Chat client for an OpenAI-compatible server (vLLM), with structured outputs and a replay cache.

Why a wrapper around ``openai``: the catalyst needs (1) JSON replies constrained by a schema *and*
validated again on our side, with invalid choices reported rather than dropped, (2) errors mapped onto
the ``LLMError`` family so that a dead or confused server means "no restart this time", (3) retries only
where retrying can help, and (4) a disk cache keyed by the full request, so that rerunning an experiment
replays the same LLM answers without a server and gives the same results.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    LLMTimeoutError,
)

CACHE_FORMAT = 1
Message = Mapping[str, str]


@dataclass(frozen=True)
class ChatRequest:
    """Everything that determines a reply; its hash is the cache key.

    ``schema`` is sent as a vLLM structured-output constraint when ``constrain`` is true and is always
    used to validate the replies; ``constrain=False`` suits servers without structured outputs, where
    the prompt alone asks for JSON.
    """

    messages: tuple[tuple[tuple[str, str], ...], ...]
    n: int = 1
    temperature: float = 0.7
    top_p: float | None = None
    seed: int | None = None
    max_tokens: int = 512
    schema: Mapping[str, Any] | None = None
    schema_name: str = "response"
    constrain: bool = True

    @classmethod
    def build(cls, messages: Iterable[Message], **params: Any) -> ChatRequest:
        frozen = tuple(tuple(sorted((str(k), str(v)) for k, v in m.items())) for m in messages)
        return cls(messages=frozen, **params)

    def message_dicts(self) -> list[dict[str, str]]:
        return [dict(m) for m in self.messages]

    def key(self, model: str) -> str:
        payload = dataclasses.asdict(self)
        payload["messages"] = self.message_dicts()
        payload["model"] = model
        payload["format"] = CACHE_FORMAT
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class Choice:
    """One sampled reply: ``data`` is the validated JSON (or None) and ``error`` says why not."""

    index: int
    text: str
    finish_reason: str | None
    data: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class ChatResult:
    """All choices of one request, plus usage and timing (``elapsed_s`` is 0-ish when replayed)."""

    request: ChatRequest
    model: str
    choices: list[Choice]
    usage: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    cached: bool = False
    attempts: int = 1

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.choices]

    @property
    def parsed(self) -> list[Any]:
        """The valid JSON objects, in choice order (invalid choices are in ``invalid``)."""
        return [c.data for c in self.choices if c.ok]

    @property
    def invalid(self) -> list[Choice]:
        return [c for c in self.choices if not c.ok]

    def require_valid(self, min_valid: int = 1) -> list[Any]:
        """The valid objects, or ``LLMInvalidContentError`` if fewer than ``min_valid`` of them."""
        good = self.parsed
        if len(good) < min_valid:
            reasons = "; ".join(f"choice {c.index}: {c.error}" for c in self.invalid[:3])
            raise LLMInvalidContentError(
                f"{len(good)} of {len(self.choices)} replies from {self.model} are valid "
                f"(need {min_valid}): {reasons}"
            )
        return good


def validate_text(text: str, schema: Mapping[str, Any] | None) -> tuple[Any, str | None]:
    """Parse ``text`` as JSON and check it against ``schema``: (data, None) or (None, reason).

    Validation is repeated on our side even when the server constrained the output: a truncated
    reply (max_tokens) or a server without structured outputs can still return something invalid.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at char {exc.pos})"
    if schema is not None:
        import jsonschema  # lazy: importing vlcat.llm should stay cheap

        try:
            jsonschema.validate(data, schema)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
            return None, f"schema violation at {where}: {exc.message}"
    return data, None


def _is_transient(exc: LLMError) -> bool:
    if isinstance(exc, LLMConnectionError | LLMTimeoutError | LLMServerError):
        return True
    return False


class LLMClient:
    """Thread-safe client bound to one server URL and one served model name.

    ``max_concurrency`` bounds the requests in flight from this client across all threads, so that a
    small CPU server is not swamped by the catalyst's parallel scoring. ``cache_dir=None`` disables the
    disk cache. Replies are cached as the server returned them, valid or not, because a rerun must see
    exactly the replies the first run saw; only failed requests (errors) are never cached. A request
    without a seed is cached too: pass a new seed (or ``use_cache=False``) to get fresh samples.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 2,
        cache_dir: str | os.PathLike[str] | None = None,
        use_cache: bool = True,
        max_concurrency: int = 4,
        retry_backoff_s: float = 0.5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.use_cache = use_cache
        self.max_concurrency = max(1, int(max_concurrency))
        self.retry_backoff_s = retry_backoff_s
        self._slots = threading.BoundedSemaphore(self.max_concurrency)
        self._client_lock = threading.Lock()
        self._openai: Any = None
        self._count_lock = threading.Lock()
        self.http_requests = 0
        """Chat requests sent over HTTP (each retry counts): what one ``n``-sample request costs the server
        is one prefill and one of these, not ``n``; replies from the cache send none."""
        self.cache_hits = 0

    def __repr__(self) -> str:
        return f"LLMClient({self.base_url!r}, model={self.model!r})"

    # -- transport -------------------------------------------------------------------------------
    def _sdk(self) -> Any:
        """The openai client, built on first use so that constructing an LLMClient is free."""
        with self._client_lock:
            if self._openai is None:
                import openai

                # The SDK's own retries are off: ours are bounded, logged and limited to transient errors.
                self._openai = openai.OpenAI(
                    base_url=self.base_url,
                    api_key=self.api_key or "EMPTY",
                    timeout=self.timeout,
                    max_retries=0,
                )
            return self._openai

    def _translate(self, exc: Exception) -> LLMError:
        import openai

        where = f"LLM server {self.base_url}"
        if isinstance(exc, openai.APITimeoutError):
            return LLMTimeoutError(f"{where} did not answer within {self.timeout:g} s")
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            return LLMConnectionError(
                f"{where} is unreachable or dropped the connection ({type(cause).__name__}: {cause}); "
                "start it with tools/serve_llm.py or check llm.base_url"
            )
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            detail = _status_detail(exc)
            if status in (401, 403):
                return LLMAuthError(f"{where} rejected the API key (HTTP {status}): {detail}", status)
            if status == 404:
                return LLMModelNotFoundError(
                    f"{where} has no model {self.model!r} (HTTP 404): {detail}; check llm.model", status
                )
            if status in (400, 422):
                return LLMBadRequestError(f"{where} rejected the request (HTTP {status}): {detail}", status)
            if status == 429 or status >= 500:
                return LLMServerError(f"{where} failed (HTTP {status}): {detail}", status)
            return LLMHTTPError(f"{where} answered HTTP {status}: {detail}", status)
        if isinstance(exc, LLMError):
            return exc
        return LLMError(f"{where}: unexpected {type(exc).__name__}: {exc}")

    def _post(self, request: ChatRequest) -> tuple[Any, int]:
        """Send once per attempt, retrying transient failures with exponential backoff and jitter."""
        params: dict[str, Any] = {
            "model": self.model,
            "messages": request.message_dicts(),
            "n": request.n,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
        if request.seed is not None:
            params["seed"] = request.seed
        if request.top_p is not None:
            params["top_p"] = request.top_p
        if request.schema is not None and request.constrain:
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": request.schema_name, "schema": dict(request.schema), "strict": True},
            }
        attempt = 0
        while True:
            attempt += 1
            try:
                with self._slots:
                    with self._count_lock:
                        self.http_requests += 1
                    return self._sdk().chat.completions.create(**params), attempt
            except Exception as exc:  # noqa: BLE001 - every failure is translated, none is swallowed
                err = self._translate(exc)
                if not _is_transient(err) or attempt > self.max_retries:
                    if attempt > 1:
                        raise type(err)(*_err_args(err, f" (after {attempt} attempts)")) from exc
                    raise err from exc
                delay = self.retry_backoff_s * (2 ** (attempt - 1))
                time.sleep(delay * (0.5 + random.random()))

    # -- cache -----------------------------------------------------------------------------------
    def _cache_path(self, key: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / key[:2] / f"{key}.json"

    def _cache_read(self, path: Path) -> dict[str, Any] | None:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # missing or corrupt entries are misses; a good reply will overwrite them
        return record if record.get("format") == CACHE_FORMAT else None

    def _cache_write(self, path: Path, record: dict[str, Any]) -> None:
        """Write via a temporary file and rename, so concurrent readers never see half an entry."""
        from vlcat.rundir import atomic_write_text

        atomic_write_text(path, json.dumps(record, ensure_ascii=False, indent=1))

    # -- public API ------------------------------------------------------------------------------
    def run(self, request: ChatRequest, *, use_cache: bool | None = None) -> ChatResult:
        """Execute one request (from the cache when possible) and validate every choice."""
        caching = self.use_cache if use_cache is None else use_cache
        key = request.key(self.model)
        path = self._cache_path(key) if caching else None
        if path is not None and (record := self._cache_read(path)) is not None:
            with self._count_lock:
                self.cache_hits += 1
            return self._result(request, record, cached=True, elapsed=0.0, attempts=0)

        start = time.perf_counter()
        response, attempts = self._post(request)
        elapsed = time.perf_counter() - start
        if not response.choices:
            raise LLMEmptyResponseError(f"LLM server {self.base_url} returned no choices for {self.model}")
        usage = response.usage.model_dump() if response.usage is not None else {}
        record = {
            "format": CACHE_FORMAT,
            "key": key,
            "model": self.model,
            "request": {**dataclasses.asdict(request), "messages": request.message_dicts()},
            "choices": [
                {"index": c.index, "text": c.message.content or "", "finish_reason": c.finish_reason}
                for c in sorted(response.choices, key=lambda c: c.index)
            ],
            "usage": {k: v for k, v in usage.items() if isinstance(v, int)},
            "elapsed_s": elapsed,
        }
        if path is not None:
            self._cache_write(path, record)
        return self._result(request, record, cached=False, elapsed=elapsed, attempts=attempts)

    def _result(
        self, request: ChatRequest, record: dict[str, Any], *, cached: bool, elapsed: float, attempts: int
    ) -> ChatResult:
        choices = []
        for c in record["choices"]:
            data, error = validate_text(c["text"], request.schema) if request.schema is not None else (
                c["text"],
                None,
            )
            if error and c.get("finish_reason") == "length":
                error += " (reply cut off by max_tokens)"
            choices.append(Choice(c["index"], c["text"], c.get("finish_reason"), data, error))
        return ChatResult(request, self.model, choices, dict(record.get("usage", {})), elapsed, cached, attempts)

    def complete(
        self,
        messages: Iterable[Message],
        *,
        n: int = 1,
        temperature: float = 0.7,
        top_p: float | None = None,
        seed: int | None = None,
        max_tokens: int = 512,
        schema: Mapping[str, Any] | None = None,
        schema_name: str = "response",
        constrain: bool = True,
        use_cache: bool | None = None,
    ) -> ChatResult:
        """One chat completion with ``n`` choices: one HTTP request and one prefill of the shared prompt
        for all ``n`` samples (the cache key includes ``n``). With ``schema``, each choice's ``data`` is the
        validated JSON object; without, ``data`` is the raw text."""
        request = ChatRequest.build(
            messages,
            n=n,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            max_tokens=max_tokens,
            schema=schema,
            schema_name=schema_name,
            constrain=constrain,
        )
        return self.run(request, use_cache=use_cache)

    def complete_many(
        self, requests: Sequence[ChatRequest], *, return_exceptions: bool = False
    ) -> list[ChatResult | LLMError]:
        """Run requests concurrently (at most ``max_concurrency`` in flight); results keep input order.

        With ``return_exceptions`` an ``LLMError`` takes the place of its result instead of being raised,
        so one failed request does not discard the others.
        """

        def one(req: ChatRequest) -> ChatResult | LLMError:
            try:
                return self.run(req)
            except LLMError as exc:
                if return_exceptions:
                    return exc
                raise

        if not requests:
            return []
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(requests))) as pool:
            return list(pool.map(one, requests))

    def health(self, timeout: float = 5.0) -> HealthStatus:
        """Whether the server answers ``/v1/models`` and serves this client's model; never raises."""
        start = time.perf_counter()
        try:
            sdk = self._sdk().with_options(timeout=timeout, max_retries=0)
            models = [m.id for m in sdk.models.list().data]
        except Exception as exc:  # noqa: BLE001 - a health probe reports, it does not raise
            err = self._translate(exc)
            return HealthStatus(False, [], str(err), time.perf_counter() - start)
        elapsed = time.perf_counter() - start
        if self.model and self.model not in models:  # an empty model only asks whether the server answers
            msg = f"LLM server {self.base_url} serves {models}, not {self.model!r}"
            return HealthStatus(False, models, msg, elapsed)
        return HealthStatus(True, models, None, elapsed)


@dataclass(frozen=True)
class HealthStatus:
    ok: bool
    models: list[str]
    error: str | None
    elapsed_s: float

    def __bool__(self) -> bool:
        return self.ok


def _status_detail(exc: Any) -> str:
    """The server's own error message (vLLM puts it in ``error.message`` or ``message``)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
        if body.get("message"):
            return str(body["message"])
    return str(getattr(exc, "message", exc))


def _err_args(err: LLMError, suffix: str) -> tuple[Any, ...]:
    if isinstance(err, LLMHTTPError):
        return (str(err) + suffix, err.status_code)
    return (str(err) + suffix,)
