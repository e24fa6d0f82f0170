"""The OpenADR 3 client on its own, against the spec-shaped server: auth, paging, error answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
import json

import aiohttp
import pytest

from custom_components.panel_capacity.grid.client import (
    OpenAdrAuthError,
    OpenAdrClient,
    OpenAdrConnectionError,
    OpenAdrNotSupportedError,
    OpenAdrResponseError,
    ProgramNotFoundError,
)

from .openadr_vtn import FakeVtn

pytestmark = pytest.mark.usefixtures("socket_enabled")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def client_for(session: aiohttp.ClientSession, vtn: FakeVtn, url: str, **kwargs) -> OpenAdrClient:
    return OpenAdrClient(session, url, vtn.client_id, vtn.client_secret, version=vtn.version, **kwargs)


def paths(vtn: FakeVtn) -> list[str]:
    return [path for _method, path, _query in vtn.requests]


async def test_token_is_renewed_at_expiry(session: aiohttp.ClientSession) -> None:
    vtn = FakeVtn(token_lifetime_s=600)
    vtn.add_program("dycm")
    clock = Clock()
    async with vtn.serve() as url:
        client = client_for(session, vtn, url, clock=clock)
        await client.programs()
        await client.programs()
        assert paths(vtn).count("/auth/token") == 1
        clock.now += 600 - 29  # within 30 s of the expiry
        await client.programs()
        assert paths(vtn).count("/auth/token") == 2


async def test_token_url_falls_back_and_3_0_1_goes_straight_to_it(session: aiohttp.ClientSession) -> None:
    vtn = FakeVtn(auth_server=False)
    vtn.add_program("dycm")
    async with vtn.serve() as url:
        await client_for(session, vtn, url).authenticate()
    assert paths(vtn) == ["/auth/server", "/auth/token"]
    old = FakeVtn("3.0.1")
    old.add_program("dycm")
    async with old.serve() as url:
        await client_for(session, old, url).authenticate()
    assert paths(old) == ["/auth/token"]


async def test_paging_reads_every_program_when_pages_are_capped(session: aiohttp.ClientSession) -> None:
    vtn = FakeVtn(max_page=2)
    for index in range(5):
        vtn.add_program(f"program-{index}")
    async with vtn.serve() as url:
        client = client_for(session, vtn, url)
        programs = await client.programs()
        assert [program.name for program in programs] == [f"program-{index}" for index in range(5)]
        skips = [query["skip"] for _m, path, query in vtn.requests if path == "/programs"]
        assert skips == ["0", "2", "4", "5"]
        assert (await client.find_program("3")).name == "program-3"  # by id when no name matches
        with pytest.raises(ProgramNotFoundError):
            await client.find_program("nope")


async def test_error_answers(session: aiohttp.ClientSession) -> None:
    vtn = FakeVtn()
    vtn.add_program("dycm")
    async with vtn.serve() as url:
        client = client_for(session, vtn, url)
        vtn.fail_next(200, body='{"token_type": "Bearer"}', path_contains="/auth/token")
        with pytest.raises(OpenAdrResponseError, match="access_token"):
            await client.authenticate()
        vtn.fail_next(400, path_contains="/events")
        with pytest.raises(OpenAdrResponseError) as err:
            await client.events("0")
        assert err.value.status == 400
        vtn.fail_next(200, body='{"not": "a list"}', path_contains="/events")
        with pytest.raises(OpenAdrResponseError, match="expected a list"):
            await client.events("0")
        vtn.fail_next(201, body="[]", path_contains="/reports")
        with pytest.raises(OpenAdrResponseError, match="expected an object"):
            await client.post_report({})
        vtn.oversized_next(3_000_000, path_contains="/programs", chunked=False)
        with pytest.raises(OpenAdrResponseError, match="too large"):
            await client.programs()
        vtn.fail_next(502, body="<html>bad gateway</html>", path_contains="/programs")
        with pytest.raises(OpenAdrConnectionError, match="502"):
            await client.programs()
        # 401 even with a fresh token: the credentials are the problem.
        vtn.fail_next(401, count=2, path_contains="/programs")
        with pytest.raises(OpenAdrAuthError):
            await client.programs()
        # 403 with a fresh token: a permission this client lacks, not bad credentials.
        vtn.fail_next(403, count=2, path_contains="/programs")
        with pytest.raises(OpenAdrResponseError) as err:
            await client.programs()
        assert err.value.status == 403
    with pytest.raises(OpenAdrConnectionError):
        await client.programs()  # the server is gone


async def test_3_0_1_sends_no_active_query_and_unreachable_token_url_falls_back(
    session: aiohttp.ClientSession,
) -> None:
    old = FakeVtn("3.0.1")
    program = old.add_program("dycm")
    async with old.serve() as url:
        await client_for(session, old, url).events(program["id"])
    assert all("active" not in query for _m, path, query in old.requests if path == "/events")
    vtn = FakeVtn()
    vtn.add_program("dycm")
    async with vtn.serve() as url:
        vtn.fail_next(
            200, body='{"tokenURL": "http://127.0.0.1:9/elsewhere/token"}', path_contains="/auth/server"
        )
        client = client_for(session, vtn, url)
        await client.programs()
        assert paths(vtn)[:2] == ["/auth/server", "/auth/token"]
        # A TLS server's tokenURL over plain http is never used.
        https = OpenAdrClient(session, "https://127.0.0.1:9/openadr3/3.1.0", "id", "secret")
        assert https.base_url.startswith("https://")


async def test_delete_refused_is_not_supported(session: aiohttp.ClientSession) -> None:
    vtn = FakeVtn()
    vtn.add_program("dycm")
    async with vtn.serve() as url:
        client = client_for(session, vtn, url)
        vtn.fail_next(403, count=2, path_contains="/reports")
        with pytest.raises(OpenAdrNotSupportedError):
            await client.delete_report("0")
        with pytest.raises(OpenAdrNotSupportedError):
            await client.delete_report("999")  # 404: no such report


async def test_a_number_too_long_for_python_spoils_only_itself(session: aiohttp.ClientSession) -> None:
    vtn = FakeVtn()
    vtn.add_program("dycm")
    body = '[{"id": "0", "programName": "dycm", "limit": ' + "9" * 5000 + "}]"
    async with vtn.serve() as url:
        vtn.fail_next(200, body=body, path_contains="/programs")
        programs = await client_for(session, vtn, url).programs()
    assert [program.name for program in programs] == ["dycm"]


async def test_ven_object_found_created_or_refused(session: aiohttp.ClientSession) -> None:
    vtn = FakeVtn(ven_registered=False)
    async with vtn.serve() as url:
        client = client_for(session, vtn, url)
        assert await client.find_ven("home-1") is None
        created = await client.register_ven("home-1")
        assert (created.name, created.client_id, created.targets) == ("home-1", "ha-ven", ())
        assert await client.find_ven("home-1") == created
        with pytest.raises(OpenAdrResponseError) as err:
            await client.register_ven("home-1")  # this client has one already
        assert err.value.status == 409
        vtn.grant_targets("home-1", ["home-1", "feeder-7"])
        found = await client.find_ven("home-1")
        assert found is not None
        assert found.targets == ("home-1", "feeder-7")
    vtn = FakeVtn(ven_registered=False, scopes=("read_targets", "read_ven_objects", "write_reports"))
    async with vtn.serve() as url:
        with pytest.raises(OpenAdrNotSupportedError):
            await client_for(session, vtn, url).register_ven("home-1")  # no write_vens
    vtn = FakeVtn("3.0.1", ven_registered=False)
    async with vtn.serve() as url:
        created = await client_for(session, vtn, url).register_ven("home-1")
        assert json.loads(vtn.recorded[-1].body) == {"venName": "home-1"}
        assert created.client_id is None  # 3.0.1 ven objects name no client


async def test_ven_objects_read_leniently(session: aiohttp.ClientSession) -> None:
    vtn = FakeVtn(ven_registered=False)
    async with vtn.serve() as url:
        client = client_for(session, vtn, url)
        # A lenient server's answer: one object without an id, ours under another name.
        vtn.fail_next(
            200,
            body='[{"venName": "x"}, {"id": "7", "venName": "given", "clientID": "ha-ven", "targets": ["t"]}]',
            content_type="application/json",
            path_contains="/vens",
        )
        own = await client.find_ven("home-1")
        assert own is not None
        assert (own.ven_id, own.name, own.targets) == ("7", "given", ("t",))
        vtn.fail_next(201, body='"created"', content_type="application/json", path_contains="/vens")
        with pytest.raises(OpenAdrResponseError):
            await client.register_ven("home-1")
