"""infra/request_threads.py with asgiref itself: which threads run requests' synchronous code."""

from __future__ import annotations

import asyncio
import threading
import time

from asgiref.sync import sync_to_async

from infra.request_threads import RequestThreads


def threads_of(scopes: list[dict], overlapping: bool, kept: int = 16) -> list[set[int]]:
    """For each request, the threads its two synchronous calls ran on."""
    seen: list[set[int]] = []

    async def main() -> None:
        everyone_in = asyncio.Barrier(len(scopes)) if overlapping else None

        async def app(scope: dict, receive: object, send: object) -> None:
            first = await sync_to_async(threading.get_ident)()
            if everyone_in is not None:
                await everyone_in.wait()
            seen.append({first, await sync_to_async(threading.get_ident)()})

        middleware = RequestThreads(app, kept=kept)
        if overlapping:
            await asyncio.gather(*(middleware(scope, None, None) for scope in scopes))
        else:
            for scope in scopes:
                await middleware(scope, None, None)

    # A loop of its own, not asyncio.run: that leaves the main thread without a current loop,
    # which later tests in this process would notice.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    return seen


def test_requests_one_after_another_run_on_one_kept_thread_not_the_event_loops():
    seen = threads_of([{"type": "http"}] * 5, overlapping=False)
    assert len(seen) == 5 and all(len(threads) == 1 for threads in seen)  # a request's calls on one thread
    assert len(set.union(*seen)) == 1
    assert threading.get_ident() not in set.union(*seen)


def test_overlapping_requests_each_have_a_thread_of_their_own():
    seen = threads_of([{"type": "http"}] * 3, overlapping=True)
    assert all(len(threads) == 1 for threads in seen)
    assert len(set.union(*seen)) == 3


def test_threads_past_the_kept_number_end_with_their_requests():
    burst = set.union(*threads_of([{"type": "http"}] * 6, overlapping=True, kept=2))
    assert len(burst) == 6
    deadline = time.monotonic() + 10
    while len(alive := burst & {thread.ident for thread in threading.enumerate()}) > 2:
        assert time.monotonic() < deadline, f"{len(alive)} of the burst's threads still run"
        time.sleep(0.05)  # a shut-down executor's thread ends once it sees the shutdown

