"""``python -m wuerstchen_desktop serve`` in its own process, as a user starts it: on a port of its own
choosing or a given one (to start it again where its clients look), killed with SIGKILL as a crash would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path


class ServeProcess:
    """The server's address is read from the first line it writes (said once its socket listens)."""

    def __init__(
        self,
        prior: Path,
        decoder: Path,
        out: Path,
        port: int = 0,
        host: str = "127.0.0.1",
        data: Path | None = None,
    ) -> None:
        argv = [
            "serve",
            "--host",
            host,
            "--port",
            str(port),
            "--prior",
            str(prior),
            "--decoder",
            str(decoder),
        ]
        # Its own data folder (platformdirs on Linux): its token file, and no previewer from the user's.
        data = data if data is not None else out.parent / "server-data"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "XDG_DATA_HOME": str(data)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "wuerstchen_desktop", *argv, "--out", str(out)],
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.process.stderr is not None
        line = self.process.stderr.readline()
        assert "://" in line, line
        self.port = int(line.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
        self.url = f"http://127.0.0.1:{self.port}"
        # Read on, so that a server with much to say never waits on a full pipe; kept for a failure's report.
        self.said = [line]
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.said.append(line)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(60)
        self._reader.join(60)
        assert self.process.stderr is not None
        self.process.stderr.close()
