"""Settings: one typed object read from the environment, plus default files."""
