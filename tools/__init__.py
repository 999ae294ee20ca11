"""Developer tools of the pitstop workspace (importable so that their tests can reach them)."""
