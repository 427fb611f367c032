"""The benchmark suite: ``nox -s bench`` (see ``benchmarks/README.md``)."""
