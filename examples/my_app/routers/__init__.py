"""The example app's routers: one module per feature, each with its own ``router``.

Routers change nothing on the wire; ``main.py`` includes them all into one ``SocketAPI``.
Modules here import each other relatively (``from .analytics import analytics``), so they work the
same whether ``main.py`` runs as a script or is imported as a module.
"""
