"""A minimal loopback stand-in for the Graph API token refresh, for benchmarks.

Run it as `python -m bench.fake_instagram --latency-ms 20`. It listens on 127.0.0.1 at a
free port, prints `listening on http://127.0.0.1:PORT` as its first line and serves until
its standard input closes. `GET /refresh_access_token` responds after the given latency with
a new 60-day token. `GET /stats` returns the request count and the maximum number of
requests in flight at once.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys

from aiohttp import web

SIXTY_DAYS_SECONDS = 60 * 24 * 3600

STATS_KEY = web.AppKey("stats", dict[str, int])
LATENCY_KEY = web.AppKey("latency", float)


async def refresh_access_token(request: web.Request) -> web.Response:
    """Respond to a token refresh after the configured latency."""
    stats = request.app[STATS_KEY]
    if request.query.get("grant_type") != "ig_refresh_token" or not request.query.get(
        "access_token"
    ):
        error_body: dict[str, object] = {
            "error": {
                "message": "Missing grant_type=ig_refresh_token or access_token",
                "type": "OAuthException",
                "code": 100,
                "fbtrace_id": "BenchTrace",
            }
        }
        return web.json_response(error_body, status=400)

    stats["requests"] += 1
    stats["in_flight"] += 1
    stats["max_in_flight"] = max(stats["max_in_flight"], stats["in_flight"])
    try:
        await asyncio.sleep(request.app[LATENCY_KEY])
    finally:
        stats["in_flight"] -= 1
    body: dict[str, object] = {
        "access_token": f"IGAA-bench-{secrets.token_hex(16)}",
        "token_type": "bearer",
        "expires_in": SIXTY_DAYS_SECONDS,
    }
    return web.json_response(body)


async def get_stats(request: web.Request) -> web.Response:
    """Return the request counters."""
    return web.json_response(request.app[STATS_KEY])


def create_app(latency: float) -> web.Application:
    """Create the fake Graph API application. `latency` is in seconds."""
    app = web.Application()
    app[STATS_KEY] = {"requests": 0, "in_flight": 0, "max_in_flight": 0}
    app[LATENCY_KEY] = latency
    app.router.add_get("/refresh_access_token", refresh_access_token)
    app.router.add_get("/stats", get_stats)
    return app


async def serve(latency: float) -> None:
    """Serve on a free loopback port until standard input closes."""
    runner = web.AppRunner(create_app(latency), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    sys.stdout.write(f"listening on http://127.0.0.1:{port}\n")
    sys.stdout.flush()

    loop = asyncio.get_running_loop()
    # The parent process closes the pipe (or exits) to stop the server.
    await loop.run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


def main() -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--latency-ms", type=float, default=20.0, help="delay before each response, in ms"
    )
    args = parser.parse_args()
    asyncio.run(serve(args.latency_ms / 1000))


if __name__ == "__main__":
    main()
