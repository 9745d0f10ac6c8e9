"""Command lines for the tests: a small, quick ``generate`` and the check that an error is one line."""

from __future__ import annotations

from pathlib import Path

from wuerstchen_desktop.cli import main

FAST = ["--width", "256", "--height", "256", "--prior-steps", "2", "--decoder-steps", "1", "--seed", "3"]


def job_line(
    command: str, prompt: str, prior: Path | str, decoder: Path, out: Path, *extra: str
) -> list[str]:
    """``command PROMPT`` on the given checkpoints into ``out``, small and quick (``extra`` may override)."""
    return [
        command,
        prompt,
        "--prior",
        str(prior),
        "--decoder",
        str(decoder),
        "--out",
        str(out),
        *FAST,
        *extra,
    ]


def generate(prior: Path, decoder: Path, out: Path, *extra: str) -> list[str]:
    return job_line("generate", "a cat", prior, decoder, out, *extra)


def run_user_error(capsys, argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 1, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in err
    return lines[0]
