"""Upstream HTTP client: URLs, outbound headers and one shared session.

Decisions (spec §3.3, §3.6, §3.7):

* **URLs.** `claude_url`: base URL (trailing slashes trimmed) + ``/v1``
  unless the base already ends in ``/vN[a-z]*`` (``/v1``, ``/v2``,
  ``/v1beta``), + the client path minus its leading ``/v1``, + the client
  query. `responses_url`: the same version rule + ``/responses``; the Go
  code sends no client path or query there, so neither do we. One
  deviation: a ``key=`` query parameter is dropped, because it is the
  client's proxy credential (§3.2) and must not travel upstream.
* **Compression.** The client's Accept-Encoding is dropped and
  ``Accept-Encoding: identity`` is sent (aiohttp would otherwise add
  ``gzip, deflate``). The session runs with ``auto_decompress=False``, so
  body bytes pass through unchanged and the SSE usage tap sees plain
  text. Go drops Content-Encoding from responses because its transport
  decompressed the body; we never decompress, so Content-Encoding is
  *kept*: if an upstream ignores ``identity``, the header must travel
  with the still-encoded bytes (`UpstreamResponse.content_encoding`
  tells a tap to stand aside).
* **Request headers.** Client headers are forwarded minus hop-by-hop
  headers (and any named in Connection), Host, Content-Length, Expect,
  Accept-Encoding, client credentials, proxy/forwarding headers, and
  names matching the outbound strip rules (case-insensitive globs such
  as ``Cf-*``). Strip rules apply to client headers only, so a rule can
  never delete the gateway's own auth, User-Agent or Accept-Encoding.
* **Response headers.** Copied except hop-by-hop headers (incl.
  transfer-encoding, connection), content-length, date and server.
* **Timeouts.** `UpstreamClient.send` has one deadline from the call to
  the end of the response headers (connect, TLS, upload, wait); Go's
  ResponseHeaderTimeout starts after the upload instead. Body reads have
  no deadline here: streams are bounded by `ccbridge.proxy.streamlimits`; callers wrap non-stream
  reads in their own REQUEST_TIMEOUT (`UpstreamClient.deadlines`). Both are
  swept deadlines (`ccbridge.upstream.deadlines`): they fire up to 50 ms late
  and cost no loop timer per request.
* **Secrets.** Keys live only in the header pairs handed to aiohttp.
  Errors are re-raised ``from None`` with reasons built from the host and
  the transport error, scrubbed of every credential header value; reprs
  show header names, never values. The cookie jar is a dummy, so one
  user's upstream cookies are never replayed for another.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import ssl
import sys
from collections.abc import AsyncGenerator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias
from urllib.parse import unquote_plus, urlsplit

import aiohttp

from ccbridge.access.credentials import CREDENTIAL_HEADERS, SECRET_HEADERS
from ccbridge.store.snapshot import Snapshot
from ccbridge.upstream.deadlines import Deadlines

__all__ = (
    "is_v1_path",
    "DEFAULT_MESSAGES_USER_AGENT",
    "DEFAULT_RESPONSES_USER_AGENT",
    "DEFAULT_STRIP_PATTERNS",
    "DEFAULT_USER_AGENTS",
    "HeaderPairs",
    "OutboundHeaders",
    "Phase",
    "StripRules",
    "UAFamily",
    "UpstreamClient",
    "UpstreamResponse",
    "UpstreamUnavailable",
    "auth_header",
    "build_outbound_headers",
    "chat_url",
    "claude_url",
    "gemini_url",
    "filter_response_headers",
    "resolve_user_agent",
    "responses_url",
    "user_agent_version",
)

HeaderPairs: TypeAlias = tuple[tuple[str, str], ...]
HeadersIn: TypeAlias = Mapping[str, str] | Iterable[tuple[str, str]]
UAFamily: TypeAlias = Literal["messages", "responses"]
Phase: TypeAlias = Literal["connect", "headers", "body"]

DEFAULT_MESSAGES_USER_AGENT: Final = "claude-cli/2.1.12 (external, cli)"
DEFAULT_RESPONSES_USER_AGENT: Final = "codex_cli_rs/0.73.0 (Linux; x86_64)"
DEFAULT_STRIP_PATTERNS: Final = ("Cf-*", "X-Forwarded-*")

DEFAULT_USER_AGENTS: Final[Mapping[UAFamily, str]] = {
    "messages": DEFAULT_MESSAGES_USER_AGENT,
    "responses": DEFAULT_RESPONSES_USER_AGENT,
}
_UA_PATTERNS: Final[Mapping[UAFamily, str]] = {
    "messages": r"claude-cli/([0-9]+(?:\.[0-9]+)*)",
    "responses": r"(?:codex_cli_rs|codex-tui)/([0-9]+(?:\.[0-9]+)*)",
}
_VERSION_SUFFIX: Final = r"/v[0-9]+[a-z]*$"

_HOP_BY_HOP: Final = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding"}
    | {"upgrade"}
)
_FORWARDING_HEADERS: Final = frozenset(
    {"forwarded", "via", "x-real-ip", "x-client-ip", "true-client-ip", "cf-connecting-ip"}
    | {"x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"}
)
_REQUEST_DROP: Final = (
    _HOP_BY_HOP
    | CREDENTIAL_HEADERS
    | _FORWARDING_HEADERS
    | {"host", "content-length", "expect", "accept-encoding"}
)
# Date and Server are the serving process's own (uvicorn writes both): copied,
# each would go out twice, the upstream's naming its server software.
_RESPONSE_DROP: Final = _HOP_BY_HOP | {"content-length", "date", "server"}
_DECISION_CACHE_SIZE: Final = 1024

# NOTE(upstream): CPython < 3.12.7 leaks aborted SSL transports without it.
_CLEANUP_CLOSED: Final = sys.version_info < (3, 12, 7)


# --------------------------------------------------------------------------
# URLs
# --------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)  # PERF(upstream): one per channel base URL
def _versioned_base(base_url: str) -> str:
    base = base_url.strip().rstrip("/")
    return base if re.search(_VERSION_SUFFIX, base) else base + "/v1"


def is_v1_path(path: str) -> bool:
    """Return whether ``path`` is a /v1 path (errors in a vendor's shape)."""
    return path == "/v1" or path.startswith("/v1/")


def _drop_key_param(query: str) -> str:
    if "key" not in query and "%" not in query:  # a name may be percent-encoded
        return query
    kept = (p for p in query.split("&") if p and unquote_plus(p.partition("=")[0]) != "key")
    return "&".join(kept)


def claude_url(base_url: str, path: str = "/v1/messages", query: str = "") -> str:
    """Return the upstream URL for a Claude passthrough request.

    Args:
        base_url: Channel base URL, e.g. ``https://api.anthropic.com``.
        path: Client request path, e.g. ``/v1/messages``.
        query: Client query string without ``?``; ``key=`` is dropped.
    """
    endpoint = path[3:] if is_v1_path(path) else path
    url = _versioned_base(base_url) + endpoint
    query = _drop_key_param(query)
    return f"{url}?{query}" if query else url


def responses_url(base_url: str) -> str:
    """Return the upstream URL of an OpenAI Responses endpoint."""
    return _versioned_base(base_url) + "/responses"


def chat_url(base_url: str) -> str:
    """Return the upstream URL of an OpenAI Chat Completions endpoint (the /v1 rule)."""
    return _versioned_base(base_url) + "/chat/completions"


def gemini_url(base_url: str, model_action: str, query: str = "") -> str:
    """Return the upstream URL of a Gemini passthrough call.

    The base is normalised to ``/v1beta/models`` as the reference does: a base
    ending ``/models`` is kept, one ending in a version (``/v1``, ``/v1beta``)
    gets ``/models``, anything else ``/v1beta/models``. ``key=`` never goes
    upstream (the channel's key travels in ``x-goog-api-key``).

    Args:
        base_url: The channel's base URL.
        model_action: ``{model}:generateContent`` or ``{model}:streamGenerateContent``.
        query: The client's query string without ``?``.
    """
    base = base_url.strip().rstrip("/")
    if not base.endswith("/models"):
        base += "/models" if re.search(_VERSION_SUFFIX, base) else "/v1beta/models"
    query = _drop_key_param(query)
    url = f"{base}/{model_action}"
    return f"{url}?{query}" if query else url


# --------------------------------------------------------------------------
# Outbound headers
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StripRules:
    """Compiled outbound strip rules (case-insensitive shell globs).

    Build once per config snapshot with `StripRules.compile`.
    """

    patterns: tuple[str, ...] = ()
    _regex: re.Pattern[str] | None = field(default=None, repr=False, compare=False)
    _decisions: dict[str, tuple[str, bool]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def compile(cls, patterns: Iterable[str]) -> StripRules:
        """Return rules for patterns like ``Cf-*``; blanks are ignored."""
        cleaned = tuple(p.strip() for p in patterns if p and p.strip())
        if not cleaned:
            return cls()
        alternatives = "|".join(f"(?:{fnmatch.translate(p.lower())})" for p in cleaned)
        return cls(cleaned, re.compile(alternatives))

    def matches(self, name: str) -> bool:
        """Return whether a header name matches any rule."""
        return self._regex is not None and self._regex.match(name.lower()) is not None

    def classify(self, name: str) -> tuple[str, bool]:
        """Return a client header's lowercased name and whether to drop it.

        Dropped: the fixed outbound set (hop-by-hop, credentials,
        forwarding, framing, Accept-Encoding) and names matching a rule.
        """
        decision = self._decisions.get(name)
        if decision is None:
            lower = name.lower()
            decision = (lower, lower in _REQUEST_DROP or self.matches(lower))
            # PERF(upstream): names repeat across requests; the cap bounds
            # memory against clients that invent header names.
            if len(self._decisions) < _DECISION_CACHE_SIZE:
                self._decisions[name] = decision
        return decision


@functools.cache
def _no_strip_rules() -> StripRules:
    return StripRules()


# PERF(proxy): made per request; a frozen dataclass's __init__ costs about 4x a plain one.
@dataclass(slots=True)
class OutboundHeaders:
    """Headers for one upstream request, and what was changed.

    Attributes:
        pairs: Header pairs to send; they include the upstream key.
        removed: Lowercased client header names that were dropped.
        user_agent: The User-Agent sent.
        client_user_agent_valid: Whether the client's own User-Agent was
            valid and forwarded (the caller may capture it if newer).
    """

    pairs: HeaderPairs = field(repr=False)
    removed: tuple[str, ...]
    user_agent: str
    client_user_agent_valid: bool

    def __repr__(self) -> str:
        names = ", ".join(name for name, _ in self.pairs)
        return (
            f"OutboundHeaders(names=[{names}], removed={list(self.removed)!r}, "
            f"user_agent={self.user_agent!r})"
        )


@functools.cache
def _ua_regex(family: UAFamily) -> re.Pattern[str]:
    return re.compile(_UA_PATTERNS[family], re.IGNORECASE)


@functools.lru_cache(maxsize=256)  # PERF(upstream): clients send few distinct UAs
def user_agent_version(user_agent: str, family: UAFamily) -> tuple[int, ...] | None:
    """Return the CLI version in a User-Agent, or None if not valid.

    ``messages`` accepts ``claude-cli/X[.Y...]``; ``responses`` accepts
    ``codex_cli_rs/X[.Y...]`` and ``codex-tui/X[.Y...]`` (any case).
    """
    found = _ua_regex(family).match(user_agent.strip())
    return tuple(int(part) for part in found.group(1).split(".")) if found else None


def resolve_user_agent(
    incoming: str | None, family: UAFamily, fallback: str | None = None
) -> tuple[str, bool]:
    """Return the User-Agent to send and whether it is the client's.

    Args:
        incoming: The client's User-Agent, if any.
        family: Which CLI family the endpoint expects.
        fallback: Stored latest UA; invalid or empty means the default.
    """
    incoming = (incoming or "").strip()
    if user_agent_version(incoming, family) is not None:
        return incoming, True
    chosen = (fallback or "").strip()
    if user_agent_version(chosen, family) is None:
        chosen = DEFAULT_USER_AGENTS[family]
    return chosen, False


def auth_header(api_key: str) -> tuple[str, str]:
    """Return the upstream auth header for a key.

    ``sk-ant-`` keys go in ``x-api-key``; others in ``Authorization:
    Bearer``.

    Raises:
        ValueError: The key is empty or has characters a header value
            cannot carry (the message never contains the key).
    """
    # NOTE(upstream): visible ASCII only, so a key cannot split a header.
    if not (api_key.isascii() and api_key.isprintable()) or " " in api_key or not api_key:
        raise ValueError("upstream API key is empty or contains invalid characters")
    if api_key.startswith("sk-ant-"):
        return "x-api-key", api_key
    return "Authorization", f"Bearer {api_key}"


def _tokens(value: str) -> frozenset[str]:
    return frozenset(token.strip().lower() for token in value.split(","))


def _drop_named_by_connection(
    kept: list[tuple[str, str]], removed: list[str], connection: str | None
) -> list[tuple[str, str]]:
    # PERF(upstream): Connection rarely names extra headers; filter only then.
    tokens = _tokens(connection) if connection else frozenset()
    if not tokens - _HOP_BY_HOP:
        return kept
    removed += [name.lower() for name, _ in kept if name.lower() in tokens]
    return [(name, value) for name, value in kept if name.lower() not in tokens]


def build_outbound_headers(
    client_headers: HeadersIn,
    *,
    api_key: str,
    ua_family: UAFamily,
    fallback_user_agent: str | None = None,
    strip_rules: StripRules | None = None,
    overrides: Mapping[str, str] | None = None,
) -> OutboundHeaders:
    """Return the headers for a passthrough request to an upstream.

    Args:
        client_headers: The client's headers (Falcon's ``req.headers`` or
            name/value pairs).
        api_key: The channel key; picks ``x-api-key`` or Bearer auth.
        ua_family: ``messages`` (claude) or ``responses`` (codex).
        fallback_user_agent: UA used when the client's is not valid.
        strip_rules: Configured outbound strip rules, applied to client
            headers only.
        overrides: Headers set last, replacing any of the same name
            (e.g. ``Accept: text/event-stream`` for Claude streams).
    """
    items = client_headers.items() if isinstance(client_headers, Mapping) else client_headers
    classify = (strip_rules or _no_strip_rules()).classify
    kept: list[tuple[str, str]] = []
    removed: list[str] = []
    incoming_ua: str | None = None
    connection: str | None = None
    for name, value in items:
        lower, drop = classify(name)
        if lower == "user-agent":
            incoming_ua = value
        elif drop:
            removed.append(lower)
            connection = value if lower == "connection" else connection
        else:
            kept.append((name, value))
    kept = _drop_named_by_connection(kept, removed, connection)
    user_agent, forwarded = resolve_user_agent(incoming_ua, ua_family, fallback_user_agent)
    kept += [auth_header(api_key), ("User-Agent", user_agent), ("Accept-Encoding", "identity")]
    if overrides:
        replaced = {name.lower() for name in overrides}
        kept = [(n, v) for n, v in kept if n.lower() not in replaced]
        kept.extend(overrides.items())
    return OutboundHeaders(tuple(kept), tuple(removed), user_agent, forwarded)


def filter_response_headers(headers: Iterable[tuple[str, str]]) -> HeaderPairs:
    """Return upstream response headers fit to copy to the client.

    Drops hop-by-hop headers (and any named in Connection),
    Content-Length, Date and Server; keeps Content-Encoding because bodies are relayed
    undecoded.
    """
    kept: list[tuple[str, str]] = []
    connection = ""
    for name, value in headers:
        lower = name.lower()
        if lower not in _RESPONSE_DROP:
            kept.append((name, value))
        elif lower == "connection":
            connection = value
    if connection and _tokens(connection) - _HOP_BY_HOP:
        tokens = _tokens(connection)
        kept = [(name, value) for name, value in kept if name.lower() not in tokens]
    return tuple(kept)


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


class UpstreamUnavailable(RuntimeError):
    """The upstream could not be reached or stopped answering.

    Raised for connection failures, header timeouts and broken bodies;
    the message never contains credentials.

    Attributes:
        host: ``host:port`` of the upstream.
        phase: ``connect``, ``headers`` (sent, no complete response head
            in time) or ``body`` (the response body broke off).
        reason: Short, credential-free description.
    """

    def __init__(self, host: str, phase: Phase, reason: str) -> None:
        super().__init__(f"upstream {host} unavailable ({phase}): {reason}")
        self.host = host
        self.phase = phase
        self.reason = reason


def _host_of(url: str) -> str:
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "<invalid url>"
    return f"{parts.hostname or '<no host>'}:{port}"


def _secret_values(pairs: Iterable[tuple[str, str]]) -> list[str]:
    values: list[str] = []
    for name, value in pairs:
        if name.lower() in SECRET_HEADERS and value:
            values.append(value)
            scheme, _, token = value.partition(" ")
            if token and scheme.lower() in ("bearer", "basic"):
                values.append(token)
    return sorted(values, key=len, reverse=True)


def _describe(ex: BaseException, secrets: Iterable[str]) -> str:
    if isinstance(ex, aiohttp.ClientConnectorError):
        detail = f"{type(ex).__name__}: {ex.os_error}"
    else:
        detail = f"{type(ex).__name__}: {ex}" if str(ex) else type(ex).__name__
    for secret in secrets:
        detail = detail.replace(secret, "***")
    return detail[:300]


# --------------------------------------------------------------------------
# Response
# --------------------------------------------------------------------------


class UpstreamResponse:
    """An upstream response whose body has not been read yet.

    Attributes:
        status: HTTP status code.
        headers: Response headers filtered for copying to the client.
    """

    __slots__ = ("status", "headers", "_raw", "_url", "_sent")

    def __init__(self, raw: aiohttp.ClientResponse, url: str, sent: HeaderPairs) -> None:
        self.status: int = raw.status
        self.headers: HeaderPairs = filter_response_headers(raw.headers.items())
        self._raw = raw
        self._url = url
        # NOTE(upstream): kept only to scrub credentials from body errors.
        self._sent = sent

    def __repr__(self) -> str:
        return f"<UpstreamResponse {self.status} from {_host_of(self._url)}>"

    async def __aenter__(self) -> UpstreamResponse:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()

    def header(self, name: str) -> str | None:
        """Return an unfiltered response header value (first one)."""
        return self._raw.headers.get(name)

    @property
    def content_type(self) -> str | None:
        """Return the Content-Type header, if any."""
        return self._raw.headers.get("Content-Type")

    @property
    def content_encoding(self) -> str | None:
        """Return Content-Encoding; set means the body is still encoded."""
        return self._raw.headers.get("Content-Encoding")

    async def iter_chunks(self) -> AsyncGenerator[bytes, None]:
        """Yield raw body chunks as they arrive.

        Raises:
            UpstreamUnavailable: The body broke off (phase ``body``).
        """
        reader = self._raw.content
        try:
            async for chunk in reader.iter_any():
                yield chunk
        except (aiohttp.ClientError, OSError) as ex:
            raise self._body_error(ex) from None

    async def read(self) -> bytes:
        """Return the whole raw body (for small, non-stream bodies).

        Raises:
            UpstreamUnavailable: The body broke off (phase ``body``).
        """
        try:
            return await self._raw.read()
        except (aiohttp.ClientError, OSError) as ex:
            raise self._body_error(ex) from None

    def release(self) -> None:
        """Return the connection to the pool, or close it if unread.

        Idempotent. A partly read body makes aiohttp close the
        connection instead of reusing it.
        """
        self._raw.release()

    def close(self) -> None:
        """Close the connection now, e.g. to abandon a stream."""
        self._raw.close()

    def _body_error(self, ex: BaseException) -> UpstreamUnavailable:
        # NOTE(upstream): a broken body leaves a dead connection; drop it now.
        self._raw.close()
        reason = _describe(ex, _secret_values(self._sent))
        return UpstreamUnavailable(_host_of(self._url), "body", reason)


# --------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------


class UpstreamClient:
    """One shared aiohttp session for all upstream calls of a process.

    Construct anywhere (no I/O); `open` at app startup and `close` at
    shutdown (the gateway's lifespan does both).

    Args:
        max_connections: Total pooled connections; 0 means no limit (long
            SSE streams must never queue behind a pool cap). There is no
            per-host limit.
        keepalive_timeout: Seconds an idle connection is kept; keep it
            below upstreams' own idle timeouts to avoid stale reuse.
        dns_ttl: Seconds DNS answers are cached.
        connect_timeout: Seconds to establish a TCP connection.
        read_bufsize: Read buffer size of each response.
    """

    def __init__(
        self,
        *,
        max_connections: int = 0,
        keepalive_timeout: float = 15.0,
        dns_ttl: int = 300,
        connect_timeout: float = 10.0,
        read_bufsize: int = 64 * 1024,
    ) -> None:
        self._max_connections = max_connections
        self._keepalive_timeout = keepalive_timeout
        self._dns_ttl = dns_ttl
        self._connect_timeout = connect_timeout
        self._read_bufsize = read_bufsize
        self._session: aiohttp.ClientSession | None = None
        self._verified_ssl: ssl.SSLContext | None = None
        self._insecure_ssl: ssl.SSLContext | None = None
        self._closed = False
        self.deadlines = Deadlines()
        # The outbound header policy of the config in force (see `adopt`).
        self.strip_rules = _no_strip_rules()

    def __repr__(self) -> str:
        state = "open" if self._session is not None else "closed" if self._closed else "new"
        return f"<UpstreamClient {state}>"

    def adopt(self, snapshot: Snapshot) -> None:
        """Use the outbound header policy of a new config snapshot."""
        policy = snapshot.outbound_headers
        self.strip_rules = StripRules.compile(policy.strip_rules if policy.enabled else ())

    @property
    def is_open(self) -> bool:
        """Return whether `send` may be called."""
        return self._session is not None

    async def open(self) -> None:
        """Create the session and connection pool.

        Raises:
            RuntimeError: Already open.
        """
        if self._session is not None:
            raise RuntimeError("upstream client is already open")
        self._verified_ssl = ssl.create_default_context()
        self._insecure_ssl = ssl.create_default_context()
        self._insecure_ssl.check_hostname = False
        self._insecure_ssl.verify_mode = ssl.CERT_NONE
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            limit_per_host=0,
            ttl_dns_cache=self._dns_ttl,
            keepalive_timeout=self._keepalive_timeout,
            enable_cleanup_closed=_CLEANUP_CLOSED,
            ssl=self._verified_ssl,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            read_bufsize=self._read_bufsize,
            skip_auto_headers=("Content-Type",),
        )
        self._closed = False
        await self.deadlines.start()

    async def close(self) -> None:
        """Close the session and every pooled connection; idempotent."""
        session, self._session = self._session, None
        self._closed = True
        if session is not None:
            await self.deadlines.stop()
            await session.close()

    async def send(
        self,
        method: str,
        url: str,
        headers: OutboundHeaders | HeadersIn,
        body: bytes | None = None,
        *,
        header_timeout: float,
        insecure_skip_verify: bool = False,
    ) -> UpstreamResponse:
        """Send a request; return once the response headers are in.

        Args:
            method: HTTP method.
            url: Full upstream URL (see `claude_url`, `responses_url`).
            headers: `OutboundHeaders`, a mapping or name/value pairs,
                sent as is.
            body: Request body bytes.
            header_timeout: Seconds from now until the response headers
                must be complete (connect, TLS and upload included).
            insecure_skip_verify: Skip TLS verification for this channel.

        Raises:
            UpstreamUnavailable: Connection failed, broke, or no response
                headers arrived in time.
            RuntimeError: The client is not open.
        """
        session = self._require_session()
        if isinstance(headers, OutboundHeaders):
            pairs = headers.pairs
        else:
            pairs = tuple(headers.items() if isinstance(headers, Mapping) else headers)
        ssl_context = self._insecure_ssl if insecure_skip_verify else self._verified_ssl
        assert ssl_context is not None  # open() makes both contexts with the session
        try:
            with self.deadlines.within(header_timeout):
                raw = await session.request(
                    method,
                    url,
                    headers=pairs,
                    data=body,
                    ssl=ssl_context,
                    allow_redirects=False,
                )
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as ex:
            raise UpstreamUnavailable(
                _host_of(url), "connect", _describe(ex, _secret_values(pairs))
            ) from None
        except TimeoutError:
            reason = f"no response headers within {header_timeout:g}s"
            raise UpstreamUnavailable(_host_of(url), "headers", reason) from None
        except (aiohttp.ClientError, OSError, ValueError) as ex:
            raise UpstreamUnavailable(
                _host_of(url), "headers", _describe(ex, _secret_values(pairs))
            ) from None
        return UpstreamResponse(raw, url, pairs)

    async def send_websocket(
        self,
        url: str,
        headers: OutboundHeaders,
        body: bytes,
        *,
        header_timeout: float,
        insecure_skip_verify: bool = False,
    ) -> UpstreamResponse:
        """Send one Responses turn over an upstream WebSocket (see `wsupstream`)."""
        from ccbridge.upstream.wsupstream import send_turn  # it builds on this module

        ssl_context = self._insecure_ssl if insecure_skip_verify else self._verified_ssl
        return await send_turn(
            self._require_session(),
            url,
            headers.pairs,
            body,
            ssl=ssl_context,
            deadlines=self.deadlines,
            header_timeout=header_timeout,
        )

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            state = "closed" if self._closed else "not open"
            raise RuntimeError(f"upstream client is {state}")
        return self._session
