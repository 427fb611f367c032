"""``python -m trio_socketapi module:app --host H --port P``."""

from trio_socketapi._cli import main

main()
