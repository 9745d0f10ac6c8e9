"""What the tests and the bundle's self-test need and the app never does: random-weight checkpoints.
Only ``wuerstchen_desktop.selftest`` imports it (a test enforces this)."""
