"""The compat handlers on trio_socketapi (run with ``python -m trio_socketapi``)."""

from tests.compat.handlers import declare
from trio_socketapi import Depends, RequiredOnSubscribe, Router, SocketAPI

app = SocketAPI()
declare(app, Router(), RequiredOnSubscribe, Depends)
