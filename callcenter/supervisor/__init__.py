"""The floor supervisor's web module: the wallboard page and its stream, dispatch and monitoring."""
