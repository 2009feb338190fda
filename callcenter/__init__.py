"""The application layer: the app factory, the runtime (the composition root), the web modules,
the RQ jobs, the CLI and the stack runner. The only package that imports Flask, click or RQ."""
