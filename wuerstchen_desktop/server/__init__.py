"""The HTTP server behind ``wuerstchen-desktop serve``: the A1111 web API subset on FastAPI and uvicorn,
running the one job runner (core/jobs/runner.py) on one worker thread, with the CLI's limits."""
