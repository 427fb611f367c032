"""The three servers under test, each serving the same actions and channel.

- ``trio_app``: trio_socketapi,
  ``python -m trio_socketapi benchmarks.apps.trio_app:app``.
- ``socketapi_app``: socketapi 0.2.0 on uvicorn,
  ``python -m uvicorn benchmarks.apps.socketapi_app:app``.
- ``raw_trio``: a hand-written trio-websocket server,
  ``python -m benchmarks.apps.raw_trio``.

The app: an ``add(a, b)`` action, a ``tick`` channel whose data is ``{"seq", "ts", "pad"}``, and a
``publish(seq, ts, pad)`` action that broadcasts one ``tick`` and returns ``seq``.
"""
