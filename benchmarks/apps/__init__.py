"""The servers under test, each serving the same actions and channel (see ``benchmarks/peers``).

- ``trio_app``: trio_socketapi (on a Redis broker when ``BENCH_REDIS_URL`` is set).
- ``socketapi_app``: socketapi 0.2.0 on uvicorn.
- ``raw_trio``: a hand-written trio-websocket server.
- ``raw_websockets``: a hand-written ``websockets`` (asyncio) server.
- ``socketio_app``: python-socketio's ``AsyncServer`` on uvicorn (Socket.IO events and a room).

The app: an ``add(a, b)`` action, a ``tick`` channel whose data is ``{"seq", "ts", "pad"}``, and a
``publish(seq, ts, pad)`` action that broadcasts one ``tick`` and returns ``seq``.
"""
