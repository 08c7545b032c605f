"""Safety of shared state (issue 29: 1, 2, 3, 4, 12): a user's module traced from several threads, cache
entries that are links or FIFOs, an output that is an input, killed runs' leftovers, the cache's size."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import pytest
import torch
from torch import nn

import roofline
from roofline.core.errors import CacheWarning, OutputError
from roofline.core.io import check_not_input, remove_stale_temporaries, report_folder
from roofline.trace import cache as trace_cache
from roofline.trace.cache import TraceRequest

REQ = TraceRequest("mnv3-s", resolution=32)


def _net() -> nn.Module:
    torch.manual_seed(0)
    blocks = [nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU()) for _ in range(24)]
    return nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))


# 1: one module analysed from several threads

def test_analyze_from_threads_matches_serial_and_leaves_the_module_alone():
    m = _net()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    serial = roofline.analyze(m, "rtx3090", input_shape=(1, 16, 32, 32))
    results: list = []
    errors: list = []

    def run():
        try:
            for _ in range(8):
                results.append(roofline.analyze(m, "rtx3090", input_shape=(1, 16, 32, 32)))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 32
    for r in results:
        assert r.layers.equals(serial.layers)
        assert r.total_latency_s == serial.total_latency_s
    assert {p.device.type for p in m.parameters()} == {"cpu"}
    assert {b.device.type for b in m.buffers()} == {"cpu"}
    after = m.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())
    assert m.training  # eval() was the copy's, not the user's module's
    assert list(serial.layers["name"][:3]) == ["0.0", "0.1", "0.2"]  # named by module path


def test_a_module_referred_to_outside_its_children_is_traced_on_meta():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 4)
            self.others = [self.a]  # a plain list: not a registered child
            self.cache = {}

        def forward(self, x):
            self.cache["k"] = 1
            self.seen = True
            return self.others[0](x)

    s = Shared()
    t = roofline.trace(s, (2, 4))
    assert list(t.layers["macs"]) == [32]
    assert s.cache == {} and not hasattr(s, "seen") and s.a.weight.device.type == "cpu"


# 2, 4: cache entries that are symlinks or FIFOs

@pytest.fixture
def cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("ROOFLINE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ROOFLINE_CACHE_MAX_MB", raising=False)
    trace_cache._size.clear()
    folder = trace_cache.cache_dir()
    folder.mkdir(parents=True)
    return folder


def test_a_symlink_at_a_cache_entry_is_not_written_through(cache_folder, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    entry = cache_folder / f"{trace_cache.cache_key(REQ)}.npz"
    entry.symlink_to(victim)
    with pytest.warns(CacheWarning) as caught:
        table = trace_cache.trace_request(REQ)
    assert table.model == "mnv3-s" and table.layers["macs"].sum() > 0
    assert victim.read_text() == "precious"
    assert entry.is_symlink() and os.readlink(entry) == str(victim)
    text = " ".join(str(w.message) for w in caught)
    assert "symlink or not a regular file" in text


def _in_thread(fn, fifo, seconds=60):
    """Run ``fn`` with a deadline; on a hang, open the FIFO's other end to free it, and fail."""
    done = {}
    th = threading.Thread(target=lambda: done.setdefault("r", fn()), daemon=True)
    th.start()
    th.join(seconds)
    if th.is_alive():
        for flags in (os.O_RDONLY | os.O_NONBLOCK, os.O_WRONLY | os.O_NONBLOCK):
            try:
                os.close(os.open(fifo, flags))
            except OSError:
                pass
        pytest.fail("the cache opened a FIFO and hung")
    return done.get("r")


def test_a_fifo_at_a_cache_entry_is_never_opened(cache_folder):
    entry = cache_folder / f"{trace_cache.cache_key(REQ)}.npz"
    os.mkfifo(entry)

    def run():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            table = trace_cache.trace_request(REQ)
        return table, [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]

    table, warned = _in_thread(run, entry)
    assert table.model == "mnv3-s" and table.layers["macs"].sum() > 0
    assert any("not a regular file" in w for w in warned)
    import stat

    assert stat.S_ISFIFO(os.lstat(entry).st_mode)  # left alone


def test_entries_are_written_and_read_back_as_before(cache_folder):
    first = trace_cache.trace_request(REQ)
    entry = cache_folder / f"{trace_cache.cache_key(REQ)}.npz"
    assert entry.is_file() and not entry.is_symlink()
    assert oct(entry.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in cache_folder.iterdir()] == [entry.name]  # no temporary left
    again = trace_cache.load(REQ)
    assert again is not None and again.layers.equals(first.layers)


# 12: the cache's size cap, LRU

def test_the_cache_keeps_under_its_cap_removing_the_least_recently_used(cache_folder, monkeypatch):
    now = time.time()
    for i in range(10):
        f = cache_folder / f"{i:032x}.npz"
        f.write_bytes(b"x" * 100_000)
        os.utime(f, (now - 1000 + i, now - 1000 + i))  # 0 is the least recently used
    os.utime(cache_folder / f"{0:032x}.npz", (now, now))  # ... until it is read again
    monkeypatch.setenv("ROOFLINE_CACHE_MAX_MB", "0.5")
    assert trace_cache.max_bytes() == 500_000
    trace_cache.trace_request(REQ)  # a write over the cap: down to 80 % of it
    left = sorted(p.name for p in cache_folder.glob("*.npz"))
    total = sum(p.stat().st_size for p in cache_folder.glob("*.npz"))
    assert total <= 400_000
    assert f"{0:032x}.npz" in left and f"{trace_cache.cache_key(REQ)}.npz" in left
    assert f"{1:032x}.npz" not in left and f"{2:032x}.npz" not in left and f"{9:032x}.npz" in left


def test_a_cache_hit_counts_as_a_use(cache_folder):
    trace_cache.trace_request(REQ)
    entry = cache_folder / f"{trace_cache.cache_key(REQ)}.npz"
    os.utime(entry, (1_000_000, 1_000_000))
    assert trace_cache.load(REQ) is not None
    assert entry.stat().st_mtime > time.time() - 60


def test_cache_max_mb_that_is_not_a_number_warns_and_keeps_the_default(monkeypatch):
    monkeypatch.setenv("ROOFLINE_CACHE_MAX_MB", "lots")
    with pytest.warns(CacheWarning, match="ROOFLINE_CACHE_MAX_MB='lots' is not a size in MB; using 256"):
        assert trace_cache.max_bytes() == 256_000_000


def test_cache_command_shows_and_clears(cache_folder, cli):
    trace_cache.trace_request(REQ)
    size = (cache_folder / f"{trace_cache.cache_key(REQ)}.npz").stat().st_size
    code, out, err = cli("cache")
    assert code == 0, err
    assert f"folder   {cache_folder}" in out and "entries  1\n" in out
    assert f"size     {roofline.core.units.size(size)} (cap 256 MB" in out
    code, out, err = cli("cache", "--clear")
    assert code == 0 and f"removed 1 cached trace ({roofline.core.units.size(size)})" in out
    assert list(cache_folder.iterdir()) == []


# 3: an output that is an input

@pytest.mark.parametrize("how", ["same", "hard link", "symlink", "other spelling"])
def test_fit_refuses_to_write_over_its_input(cli, tmp_path, how):
    table = tmp_path / "same.csv"
    text = "model,ms\nmnv3-s,1.0\nmnv3-l,2.0\nmnv2,3.0\nmnv1,2.5\n"
    table.write_text(text)
    out = {"same": table, "hard link": tmp_path / "hard.csv", "symlink": tmp_path / "link.csv",
           "other spelling": tmp_path / "." / "same.csv"}[how]
    if how == "hard link":
        os.link(table, out)
    elif how == "symlink":
        out.symlink_to(table)
    code, _, err = cli("fit", str(table), "-o", str(out))
    assert code == 2
    assert err.strip().splitlines()[-1] == (f"error: output {out} is the input {table}: writing it would replace "
                                            f"the input; give another output")
    assert table.read_text() == text


def test_trace_refuses_to_write_over_its_model_file(cli, tmp_path):
    f = tmp_path / "net.py"
    text = "import torch\n\ndef make():\n    return torch.nn.Conv2d(3, 8, 3)\n"
    f.write_text(text)
    code, _, err = cli("trace", f"{f}:make", "-o", str(f))
    assert code == 2 and "is the input" in err and f.read_text() == text


def test_check_not_input_lets_other_outputs_through(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("1")
    b.write_text("2")
    check_not_input(b, a, None, "rtx3090", "-")  # different files, names that are not files
    check_not_input(tmp_path / "new.yaml", a)  # nothing there yet
    check_not_input("-", a)
    with pytest.raises(OutputError, match="is the input"):
        check_not_input(b, "rtx3090", b)


# 12: killed runs' leftovers

def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_report_removes_stale_temporaries_of_dead_runs_only(tmp_path):
    dead, live = _dead_pid(), os.getppid()
    stale = tmp_path / f".out.{dead}.abcd_123.tmp"
    stale_old = tmp_path / f".out.{dead}.zzzzzzzz.old"
    running = tmp_path / f".out.{live}.abcdefgh.tmp"
    other = tmp_path / f".out.x.{dead}.abcdefgh.tmp"  # another target's ("out.x")
    for d in (stale, stale_old, running, other):
        d.mkdir()
        (d / "models.csv").write_text("x")
    with report_folder(tmp_path / "out") as tmp:
        assert tmp.name.startswith(f".out.{os.getpid()}.") and tmp.name.endswith(".tmp")
        (tmp / "README.md").write_text("report")
    assert not stale.exists() and not stale_old.exists()
    assert running.exists() and other.exists()
    assert (tmp_path / "out" / "README.md").read_text() == "report"
    assert remove_stale_temporaries(tmp_path / "out.x") == [other]


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((line.split()[1] for line in f if line.startswith("State:")), None)
    except OSError:
        return None


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_killed_fit_jobs_leave_no_pool_worker_running(tmp_path):
    """``trace_many`` with 2 jobs, its parent killed with SIGKILL: the workers die with it."""
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import os, sys, time
        from roofline.trace import cache
        def hang(req, use_cache):
            open(os.path.join({str(tmp_path)!r}, f"worker.{{os.getpid()}}"), "w").close()
            time.sleep(120)
        cache._worker = hang
        cache.trace_many([cache.TraceRequest("mnv1"), cache.TraceRequest("mnv2")], jobs=2, use_cache=False)
    """))
    parent = subprocess.Popen([sys.executable, str(script)])
    workers: list[int] = []
    try:
        deadline = time.time() + 90
        while len(workers) < 2 and time.time() < deadline:
            workers = [int(p.name.split(".")[1]) for p in tmp_path.glob("worker.*")]
            time.sleep(0.2)
        assert len(workers) == 2, "the workers did not start"
        parent.kill()
        parent.wait()
        deadline = time.time() + 20
        while any(_state(w) not in (None, "Z") for w in workers) and time.time() < deadline:
            time.sleep(0.2)
        assert [_state(w) for w in workers if _state(w) not in (None, "Z")] == []
    finally:
        parent.kill()
        for w in workers:
            try:
                os.kill(w, 9)
            except OSError:
                pass
