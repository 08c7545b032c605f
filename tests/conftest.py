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


@pytest.fixture(autouse=True, scope="session")
def _trace_cache_in_a_temporary_folder(tmp_path_factory):
    """Traces the tests cache go to a temporary folder, never the user's cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("ROOFLINE_CACHE_DIR", str(tmp_path_factory.mktemp("trace-cache")))
    yield
    mp.undo()
