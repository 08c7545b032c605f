"""The measuring side: ``profile`` (microbenchmarks of this machine), ``validate`` (real runs
against predictions) and ``fit`` (a roofline and its overheads fitted to measured latencies)."""
