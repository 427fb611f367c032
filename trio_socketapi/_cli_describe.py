"""The describing subcommands: ``trio-socketapi asyncapi module:app [--format json|yaml]`` and
``trio-socketapi typescript module:app``; each prints to standard output.

They only import the app (nothing is served), so the serving command line keeps its form:
``trio-socketapi module:app --host H --port P`` (an app spec always has a ``:``, so it never
reads as one of these names).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

COMMANDS = ("asyncapi", "typescript")


def describe_main(argv: Sequence[str]) -> int:
    """Run ``asyncapi`` or ``typescript`` (``argv[0]``) with the rest of ``argv``."""
    from ._cli import load_app  # the serving CLI's loader: same rules, same messages
    from ._typescript import build_typescript

    command, rest = argv[0], list(argv[1:])
    parser = argparse.ArgumentParser(
        prog=f"trio-socketapi {command}",
        description="Print the app's AsyncAPI 3.0 document."
        if command == "asyncapi"
        else "Print the app's TypeScript types (the Api interface for the JS client).",
    )
    parser.add_argument("app", help="the app, as MODULE:ATTRIBUTE (e.g. main:app)")
    if command == "asyncapi":
        parser.add_argument("--format", choices=["json", "yaml"], default="json")
    args = parser.parse_args(rest)
    app = load_app(args.app)
    if command == "typescript":
        sys.stdout.write(build_typescript(app._registry))
        return 0
    document = app.asyncapi()
    if args.format == "yaml":
        try:
            import yaml  # type: ignore[import-untyped,import-not-found,unused-ignore]
        except ImportError:
            raise SystemExit(
                "error: --format yaml needs PyYAML: pip install 'trio_socketapi[yaml]'"
            ) from None

        class Dumper(yaml.SafeDumper):  # type: ignore[misc,unused-ignore]
            def ignore_aliases(self, data: object) -> bool:
                return True  # a schema used twice is written twice, not as &id001 / *id001

        sys.stdout.write(
            yaml.dump(document, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100)
        )
    else:
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return 0
