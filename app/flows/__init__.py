"""The services: what kbx does, each rule once, called by every front end (CLI, API, console)."""
