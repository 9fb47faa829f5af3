# tests/: integration tests and fuzz corpus replay.
