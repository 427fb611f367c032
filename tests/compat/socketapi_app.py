"""The compat handlers on socketapi 0.2.0 (run with uvicorn)."""

from socketapi import Depends, RequiredOnSubscribe, Router, SocketAPI

from tests.compat.handlers import declare

app = SocketAPI()
declare(app, Router(), RequiredOnSubscribe, Depends)
