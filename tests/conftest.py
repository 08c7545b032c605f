import pytest

from roofline.cli import main

ZOO = ["mnv1", "mnv2", "mnv3-l", "mnv3-s", "mnv4-conv-s", "mnv4-conv-m", "mnv4-conv-l",
       "mnv4-hybrid-m", "mnv4-hybrid-l"]


@pytest.fixture
def cli(capsys):
    """Run the CLI in-process; return (exit code, stdout, stderr)."""

    def run(*args: str):
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
