"""What tests share besides fixtures: a loopback Hub, the reference pipeline, files and jobs made the way the
app makes them, window steps. Test files and conftest.py files import from here, never from each other."""
