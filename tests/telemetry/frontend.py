"""A real HTTP server (aiohttp, in a thread of its own) in front of a real database, for the
tests: it forwards InfluxDB v2 writes and misbehaves as a proxy or a database can.

``mode``: ``"pass"`` forwards the write as it came; ``"mangle"`` forwards the body
decompressed but still labelled ``Content-Encoding: gzip`` (what a proxy that decompresses
and keeps the header sends: the server cannot read it); ``"hang"`` takes the request and
never answers (a database that accepts connections and hangs); ``"leak"`` answers
``leak_status`` quoting the request's Authorization header and its credentials (a proxy or
server that echoes the request in its errors). With ``v1`` the write goes to
InfluxDB 1.x's ``/write`` (bucket ``db/rp`` as database and retention policy), as InfluxDB
1.8's ``/api/v2/write`` does, so InfluxDB 1.6 answers with its own errors.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
import urllib.parse
from typing import Any

import aiohttp
from aiohttp import web

from tests.conftest import free_port

__all__ = ["Frontend"]


class Frontend:
    """One server on a free loopback port; ``url`` is its base, ``requests`` counts writes."""

    def __init__(self, upstream: str, *, v1: bool = False) -> None:
        self.upstream = upstream
        self.v1 = v1
        self.mode = "pass"
        self.leak_status = 401
        self.requests = 0
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._release: asyncio.Event | None = None

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_post("/api/v2/write", self._write)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _stop(self) -> None:
        assert self._release is not None
        assert self._runner is not None
        self._release.set()  # a held request ends (cleanup would wait for it)
        await self._runner.cleanup()

    async def _write(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        body = await request.read()  # aiohttp has undone the Content-Encoding: gzip
        if self.mode == "hang":
            assert self._release is not None
            await self._release.wait()
            return web.Response(status=503)  # to a client long gone
        if self.mode == "leak":
            auth = request.headers.get("Authorization", "")
            said = {
                "code": "invalid",
                "message": f"request refused; headers: {{'Authorization': '{auth}'}}",
                "credentials": auth.partition(" ")[2],
            }
            return web.json_response(said, status=self.leak_status)
        query: dict[str, Any] = dict(request.query)
        path = "/api/v2/write"
        if self.v1:
            db, _, rp = query.pop("bucket", "").partition("/")
            query = {"db": db, "precision": query.get("precision", "ns")}
            if rp:
                query["rp"] = rp
            path = "/write"
        headers = {"Content-Encoding": "gzip", "Content-Type": "text/plain; charset=utf-8"}
        if "Authorization" in request.headers:
            headers["Authorization"] = request.headers["Authorization"]
        payload = body if self.mode == "mangle" else gzip.compress(body)
        url = f"{self.upstream}{path}?{urllib.parse.urlencode(query)}"
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=payload, headers=headers) as resp,
        ):
            text = await resp.read()
            kind = resp.headers.get("Content-Type", "text/plain")
            return web.Response(status=resp.status, body=text, headers={"Content-Type": kind})
