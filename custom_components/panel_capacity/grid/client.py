"""A thin async OpenADR 3 VEN client on a caller's aiohttp session.

It does only what capacity management needs: OAuth2 client credentials (sent
in the form body, as the specification's token request has them), paged
``GET /programs`` and ``GET /events``, ``POST /reports`` to ask for a
reservation and ``DELETE /reports/{id}`` to withdraw one, and ``GET`` and
``POST /vens`` for the VEN to find, or create, its own ven object. Parsing of what comes
back is left to ``model``, which is lenient; the client guards the transport:
timeouts, error answers (problem JSON), bodies that are not JSON or too large.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import json
import time
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, quote_plus, urljoin, urlsplit, urlunsplit

import aiohttp

from .model import GridDataError, Program, Ven, parse_program, parse_ven

if TYPE_CHECKING:
    from collections.abc import Callable

VERSION_310: Final = "3.1.0"
VERSION_301: Final = "3.0.1"
VERSIONS: Final = (VERSION_310, VERSION_301)
PAGE_SIZE = 50  # the largest page the specification allows
MAX_PAGES = 40  # 2,000 objects: more than any one customer's program holds
MAX_BODY_BYTES = 2_000_000
REQUEST_TIMEOUT_S = 20.0
TOKEN_MARGIN_S = 30.0  # refresh this long before the token expires
HTTP_UNAUTHORIZED = 401
HTTP_FORBIDDEN = 403
HTTP_NOT_FOUND = 404
HTTP_METHOD_NOT_ALLOWED = 405
HTTP_NOT_IMPLEMENTED = 501
HTTP_SERVER_ERROR = 500
HTTP_BAD_REQUEST = 400
HTTP_CONFLICT = 409
REDACTED: Final = "**REDACTED**"
KEPT_TOKENS = 4  # the last tokens whose echo is taken out of error texts


class OpenAdrError(Exception):
    """Something went wrong talking to the server."""


class OpenAdrConnectionError(OpenAdrError):
    """The server cannot be reached, timed out or failed (5xx)."""


class OpenAdrAuthError(OpenAdrError):
    """The server does not accept the credentials."""


class OpenAdrResponseError(OpenAdrError):
    """The server answered, but not with something usable."""

    def __init__(self, message: str, status: int | None = None) -> None:
        """Keep the HTTP status, when there is one."""
        super().__init__(message)
        self.status = status


class OpenAdrNotSupportedError(OpenAdrResponseError):
    """The server does not offer this operation."""


class ProgramNotFoundError(OpenAdrError):
    """No program has the configured name or id."""


@dataclass(slots=True)
class _Token:
    value: str
    expires_at: float | None  # monotonic seconds; None: until the server says otherwise


def _parse_int(text: str) -> int | float:
    """JSON integers; one too long for Python to read as an int becomes a (huge, later refused) float."""
    return int(text) if len(text) < 19 else float(text)  # noqa: PLR2004 - digits of a 64-bit integer


def shown_url(url: str) -> str:
    """An address as logs and messages show it: without user, password, query or fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return "<invalid address>"
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    return urlunsplit((parts.scheme, f"{host}{port}", parts.path, "", ""))


def _variants(secret: str) -> set[str]:
    """A secret as a server might echo it: as is, form- or URL-encoded, JSON-escaped."""
    if not secret:
        return set()
    return {secret, quote_plus(secret), quote(secret, safe=""), json.dumps(secret)[1:-1]}


class OpenAdrClient:
    """One VEN's connection to one VTN."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        version: str = VERSION_310,
        timeout_s: float = REQUEST_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Nothing is sent until the first call."""
        self._session = session
        self.base_url = base_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self.version = version if version in VERSIONS else VERSION_310
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._clock = clock
        self._token: _Token | None = None
        self._token_url: str | None = None
        self._token_lock = asyncio.Lock()
        self._secrets = _variants(client_secret) | _variants(urlsplit(base_url).password or "")
        self._tokens: list[str] = []

    def redact(self, text: str) -> str:
        """``text`` without the client secret or a token this client was issued (a server may echo them)."""
        for secret in sorted(self._secrets | set(self._tokens), key=len, reverse=True):
            if secret:
                text = text.replace(secret, REDACTED)
        return text

    def _problem(self, body: Any) -> str:
        """The readable part of an error answer (problem JSON or RFC 6749), without secrets."""
        if isinstance(body, dict):
            for key in ("detail", "title", "error_description", "error"):
                if isinstance(body.get(key), str):
                    # Redacted before it is cut: a secret at the cut would otherwise be left in part.
                    return self.redact(str(body[key]))[:200]
        return ""

    # ------------------------------------------------------------------ auth

    async def _discover_token_url(self) -> str:
        """3.1 servers say where their token endpoint is; otherwise it is /auth/token."""
        fallback = f"{self.base_url}/auth/token"
        if self.version != VERSION_310:
            return fallback
        try:
            info = await self._call("GET", "/auth/server", authenticate=False)
        except OpenAdrConnectionError:
            raise
        except OpenAdrError:
            return fallback
        url = info.get("tokenURL") if isinstance(info, dict) else None
        if not isinstance(url, str) or not url:
            return fallback
        token_url = urljoin(f"{self.base_url}/", url)
        if self.base_url.startswith("https://") and not token_url.startswith("https://"):
            return fallback  # never send the secret in clear when the server is reached over TLS
        return token_url

    async def _fetch_token(self) -> str:
        if self._token_url is None:
            self._token_url = await self._discover_token_url()
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        fallback = f"{self.base_url}/auth/token"
        try:
            status, body = await self._send("POST", self._token_url, data=form)
        except OpenAdrConnectionError:
            if self._token_url == fallback:
                raise
            # The advertised token endpoint cannot be reached from here (a server behind a proxy).
            self._token_url = fallback
            status, body = await self._send("POST", self._token_url, data=form)
        if status in {HTTP_BAD_REQUEST, HTTP_UNAUTHORIZED, HTTP_FORBIDDEN}:
            raise OpenAdrAuthError(self._problem(body) or f"token request refused ({status})")
        self._check(status, body)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise OpenAdrResponseError("token answer without an access_token", status)
        expires_in = body.get("expires_in")
        expires_at = None
        if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool) and expires_in > 0:
            expires_at = self._clock() + max(float(expires_in) - TOKEN_MARGIN_S, float(expires_in) / 2)
        self._token = _Token(token, expires_at)
        self._tokens = [*self._tokens[-(KEPT_TOKENS - 1) :], token]
        return token

    async def _bearer(self, *, renew: bool = False) -> str:
        async with self._token_lock:
            token = self._token
            if renew or token is None or (token.expires_at is not None and self._clock() >= token.expires_at):
                return await self._fetch_token()
            return token.value

    async def authenticate(self) -> None:
        """Fetch a token now (to check the credentials)."""
        await self._bearer(renew=True)

    # ------------------------------------------------------------- transport

    async def _send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        data: dict[str, str] | None = None,
        token: str | None = None,
    ) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            async with self._session.request(
                method,
                url,
                params=params,
                json=json_body,
                data=data,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                raw = await self._read(response)
                status = response.status
        except TimeoutError:
            raise OpenAdrConnectionError(f"{method} {shown_url(url)}: timed out") from None
        except aiohttp.ClientError as err:
            # Only the error's kind: aiohttp's texts name the address, which may carry credentials.
            raise OpenAdrConnectionError(f"{method} {shown_url(url)}: {type(err).__name__}") from None
        if not raw.strip():
            return status, None
        try:
            return status, json.loads(raw, parse_int=_parse_int)
        except (ValueError, RecursionError) as err:
            if status >= HTTP_SERVER_ERROR:
                return status, None
            raise OpenAdrResponseError(f"{method} {shown_url(url)}: answer is not JSON", status) from err

    @staticmethod
    async def _read(response: aiohttp.ClientResponse) -> bytes:
        """The body, refusing one larger than MAX_BODY_BYTES."""
        if (response.content_length or 0) > MAX_BODY_BYTES:
            raise OpenAdrResponseError("answer too large", response.status)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(65536):
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise OpenAdrResponseError("answer too large", response.status)
            chunks.append(chunk)
        return b"".join(chunks)

    def _check(self, status: int, body: Any) -> None:
        if status >= HTTP_SERVER_ERROR:
            raise OpenAdrConnectionError(f"server error {status} {self._problem(body)}".strip())
        if status in {HTTP_NOT_FOUND, HTTP_METHOD_NOT_ALLOWED, HTTP_NOT_IMPLEMENTED}:
            raise OpenAdrNotSupportedError(self._problem(body) or f"not found ({status})", status)
        if status >= HTTP_BAD_REQUEST:
            raise OpenAdrResponseError(self._problem(body) or f"refused ({status})", status)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        authenticate: bool = True,
    ) -> Any:
        """One API call; a token refused with 401/403 is renewed once, then the call retried."""
        url = f"{self.base_url}{path}"
        if not authenticate:
            status, body = await self._send(method, url, params=params, json_body=json_body)
            self._check(status, body)
            return body
        token = await self._bearer()
        status, body = await self._send(method, url, params=params, json_body=json_body, token=token)
        if status in {HTTP_UNAUTHORIZED, HTTP_FORBIDDEN}:
            token = await self._bearer(renew=True)
            status, body = await self._send(method, url, params=params, json_body=json_body, token=token)
            if status == HTTP_UNAUTHORIZED:
                raise OpenAdrAuthError(self._problem(body) or "a fresh token was refused (401)")
            # 403 with a fresh token: this client may not do that (a scope), not bad credentials.
        self._check(status, body)
        return body

    async def _paged(self, path: str, params: dict[str, str]) -> list[Any]:
        """Every object of a list endpoint, page by page.

        A server may cap a page below the limit asked for, so pages are read
        until one comes back empty; a server that ignores ``skip`` (the same
        page again) or never ends is cut off.
        """
        objects: list[Any] = []
        previous: list[Any] | None = None
        for _ in range(MAX_PAGES):
            query = {**params, "skip": str(len(objects)), "limit": str(PAGE_SIZE)}
            body = await self._call("GET", path, params=query)
            if not isinstance(body, list):
                raise OpenAdrResponseError(f"GET {path}: expected a list")
            if not body or body == previous:
                break
            objects.extend(body)
            previous = body
        return objects

    # ------------------------------------------------------------------- API

    async def programs(self) -> list[Program]:
        """The programs this VEN can see (malformed ones left out)."""
        programs = []
        for raw in await self._paged("/programs", {}):
            try:
                programs.append(parse_program(raw))
            except GridDataError:
                continue
        return programs

    async def find_program(self, name_or_id: str) -> Program:
        """The program with this name (or id); raises ProgramNotFoundError."""
        wanted = name_or_id.strip()
        programs = await self.programs()
        for program in programs:
            if program.name == wanted:
                return program
        for program in programs:
            if program.program_id == wanted:
                return program
        raise ProgramNotFoundError(wanted)

    async def events(self, program_id: str) -> list[Any]:
        """The raw event objects of a program (parse them with ``model.parse_event``)."""
        params = {"programID": program_id}
        if self.version == VERSION_310:
            params["active"] = "true"  # 3.1 only; servers may ignore it (past events are harmless)
        return await self._paged("/events", params)

    async def post_report(self, report: dict[str, Any]) -> dict[str, Any]:
        """Create a report; returns the server's copy (with its id)."""
        body = await self._call("POST", "/reports", json_body=report)
        if not isinstance(body, dict):
            raise OpenAdrResponseError("POST /reports: expected an object")
        return body

    async def delete_report(self, report_id: str) -> None:
        """Delete a report; OpenAdrNotSupportedError when the server does not allow it."""
        try:
            await self._call("DELETE", f"/reports/{report_id}")
        except OpenAdrAuthError as err:
            # Refused with a fresh token: this VEN may not delete reports.
            raise OpenAdrNotSupportedError(str(err), HTTP_FORBIDDEN) from err
        except OpenAdrResponseError as err:
            if err.status in {HTTP_FORBIDDEN, HTTP_BAD_REQUEST, HTTP_NOT_FOUND}:
                raise OpenAdrNotSupportedError(str(err), err.status) from err
            raise

    async def find_ven(self, ven_name: str) -> Ven | None:
        """Find the ven object of this VEN: the one with its name, else its client id's; None if none.

        A VTN shows a VEN only its own ven objects (Definition, Object Privacy),
        and may ignore the ``venName`` filter.
        """
        vens = []
        for raw in await self._paged("/vens", {"venName": ven_name}):
            try:
                vens.append(parse_ven(raw))
            except GridDataError:
                continue
        named = [ven for ven in vens if ven.name == ven_name]
        own = [ven for ven in vens if ven.client_id == self._client_id]
        return next(iter(named or own), None)

    async def register_ven(self, ven_name: str) -> Ven:
        """Create this VEN's ven object (3.1.0: a VEN_VEN_REQUEST, which carries no targets).

        OpenAdrNotSupportedError when the server does not let a VEN do it;
        OpenAdrResponseError with status 409 when a ven of that name or client exists.
        """
        body: dict[str, Any] = {"venName": ven_name}
        if self.version == VERSION_310:
            body = {"objectType": "VEN_VEN_REQUEST"} | body
        try:
            created = await self._call("POST", "/vens", json_body=body)
        except OpenAdrResponseError as err:
            if err.status in {HTTP_FORBIDDEN, HTTP_BAD_REQUEST}:
                raise OpenAdrNotSupportedError(str(err), err.status) from err
            raise
        try:
            return parse_ven(created)
        except GridDataError as err:
            raise OpenAdrResponseError("POST /vens: expected a ven object") from err
