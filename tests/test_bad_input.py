"""Bad input, CLI and API alike: one `error:` line, exit code 2, no traceback, nothing left behind.

Driven by tables of cases; each CLI case runs in a fresh temporary folder whose contents
(and an existing file's bytes) must be unchanged afterwards.
"""

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import roofline
from roofline.core.errors import RooflineError
from roofline.measure.validate import validate
from roofline.fit.table_fit import fit_roofline
from roofline.fit.measurements import read_measurements
from roofline.studies.pareto import front_ranges, pareto
from roofline.studies.sweep import sweep
from roofline.hardware.transfer import derive

PIXEL6 = (Path(__file__).resolve().parent.parent / "hardware_profiles" / "pixel6-cpu.yaml").read_text()
OLD = "an existing file\n"

BAD_MODEL = '''
import sys
from torch import nn

class M(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, x):
        if self.kind == "exit0":
            sys.exit(0)
        if self.kind == "kbd":
            raise KeyboardInterrupt
        if self.kind == "key":
            return {}["x"]
        if self.kind == "zero":
            return 1 / 0
        if self.kind == "assert":
            assert False, "bad"
        if self.kind == "attr":
            return self.nothing
        return self.conv(x)

def exit0(): return M("exit0")
def kbd(): return M("kbd")
def key(): return M("key")
def zero(): return M("zero")
def asrt(): return M("assert")
def attr(): return M("attr")
def exits(): raise SystemExit(3)
def good(): return M("")
'''

FILES = {
    "bad_model.py": BAD_MODEL,
    "exit_at_import.py": "import sys\nsys.exit(0)\n",
    "raise_at_import.py": "raise ValueError('broken at import')\n",
    "existing.txt": OLD,
    "digits.yaml": PIXEL6.replace("5.12e+10", "1" + "0" * 400),
    "big.yaml": PIXEL6 + "#" + "x" * (1 << 20) + "\n",
    "anchor.yaml": PIXEL6.replace("description:", "x: &a [1, 2]\ndescription:"),
    "bomb.yaml": PIXEL6.replace("name:", "a: &a ['lol', 'lol', 'lol']\nb: &b [*a, *a, *a]\nname:"),
    "long.yaml": PIXEL6.replace("description: ", "description: " + "y" * 5000 + " # "),
    "nested_machine.yaml": PIXEL6 + "machine: {cpu: {nested: 1}}\n",
    "list_description.yaml": PIXEL6.replace("description: ", "description: [a, b] # "),
    "syntax.yaml": "name: [unclosed\n",
    "list.yaml": "- 1\n- 2\n",
    "unknown_key.yaml": PIXEL6 + "peak_tops: 4\n",
    "tops.yaml": PIXEL6.replace("1.79e+11", "'4 TOPS'"),
    "ceil.yaml": PIXEL6 + "ceilings_macs_per_s: {conv1x1: 1.0e-300}\n",
    "kernel5s.yaml": PIXEL6 + "overhead: {per_kernel_s: {eager: 5}}\n",
    "jit.yaml": PIXEL6 + "overhead: {per_kernel_s: {jit: 1.0e-6}}\n",
    "batch0.yaml": PIXEL6 + "ceilings: [{batch: 0, macs_per_s: {fc: 1.0e+9}}]\n",
    "act.yaml": ("name: x\nkind: npu\ndefault_dtype: int8\npeak_macs_per_s: {int8: 1.0e+12}\n"
                 "mem_bw_bytes_per_s: 1.0e+10\nactivations_on_chip: {value: true}\n"),
    "empty.yaml": "",
    "dup.csv": "model,ms\nmnv2,5\nmobilenet_v2,5.1\nmnv1,6\nmnv3-l,4\n",
    "huge.csv": "model,ms\nmnv2,1e308\nmnv1,3\nmnv3-l,2\n",
    "tiny.csv": "model,ms\nmnv2,1e-308\nmnv1,3\nmnv3-l,2\n",
    "neg.csv": "model,ms\nmnv2,-1\nmnv1,3\nmnv3-l,2\n",
    "nan.csv": "model,ms\nmnv2,nan\nmnv1,3\nmnv3-l,2\n",
    "text.csv": "model,ms\nmnv2,fast\nmnv1,3\nmnv3-l,2\n",
    "nocol.csv": "model,latency\nmnv2,5\n",
    "two.csv": "model,ms\nmnv2,5\nmnv1,6\n",
    "throughput.csv": "model,sps\nmnv2,0\nmnv1,6\nmnv3-l,4\n",
    # CSVs read as plain text whatever the suffix (pandas would open a zip, xz, tar or zstd archive)
    "two.zip": "model,ms\nmnv2,5\nmnv1,6\n",
    "two.xz": "model,ms\nmnv2,5\nmnv1,6\n",
    "two.tar": "model,ms\nmnv2,5\nmnv1,6\n",
    "two.zst": "model,ms\nmnv2,5\nmnv1,6\n",
    "acc_neg.zip": "model,top1\nmnv2,-50\nmnv1,70\n",
    # fitted ridge points out of bounds, and deep YAML (refused before the parser's recursive walk)
    "rp_tiny.yaml": PIXEL6.split("fitted:")[0] + "fitted: {dtype: int8, ridge_point_macs_per_byte: 1.0e-300}\n",
    "rp_huge.yaml": PIXEL6.split("fitted:")[0] + "fitted: {dtype: int8, ridge_point_macs_per_byte: 1.0e+300}\n",
    "rp_peak.yaml": PIXEL6.split("fitted:")[0] + ("fitted: {dtype: int8, ridge_point_macs_per_byte: 5.0e+5, "
                                                 "mem_bw_bytes_per_s: 1.0e+12}\n"),
    "eff.yaml": PIXEL6.split("fitted:")[0] + ("fitted: {dtype: int8, ridge_point_macs_per_byte: 30, "
                                             "efficiency: {dwconv: 1.0e-9}}\n"),
    "deep_list.yaml": "name: x\nkind: npu\nmachine: " + "[" * 600 + "]" * 600 + "\n",
    "deep_map.yaml": "name: x\nmachine: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n",
    "val.yaml": PIXEL6.split("fitted:")[0] + ("validation: {status: fitted, rows: 3, models: 3, folds: 3, "
                                             "heldout_median_error: 0.1, ratio_p10: 1.5, ratio_p90: 1.2}\n"),
    "printer.py": "print('hello from the model file')\nfrom torch import nn\n\ndef f():\n    print('built')\n"
                  "    return nn.Conv2d(3, 8, 3)\n",
    "rows.csv": "model,ms\n" + "mnv2,5\n" * 10_001,
    "unknown_model.csv": "model,ms\nresnet50,5\nmnv1,3\nmnv3-l,2\n",
    "acc_neg.csv": "model,top1\nmnv2,-50\nmnv1,70\n",
    "acc_big.csv": "model,top1\nmnv2,1000\nmnv1,70\n",
    "acc_inf.csv": "model,top1\nmnv2,inf\nmnv1,70\n",
    "acc_dup.csv": "model,top1\nmnv2,72\nmobilenet_v2,73\nmnv1,70\n",
    "acc_text.csv": "model,top1\nmnv2,good\nmnv1,70\n",
    # issue 29: tables name models and numbers, never code or look-alike digits
    "module_cell.csv": "model,ms\nos:abort,5\nmnv1,3\nmnv3-l,2\n",
    "dup_col.csv": "model,ms,ms\nmnv2,5,5\nmnv1,3,3\nmnv3-l,2,2\n",
    "underscore.csv": "model,ms\nmnv2,1_000\nmnv1,3\nmnv3-l,2\n",
    "arabic.csv": "model,ms\nmnv2,\u0665\nmnv1,3\nmnv3-l,2\n",
    "four.csv": "model,ms\nmnv2,5\nmnv1,3\nmnv3-l,2\nmnv4-conv-s,4\n",
    # issue 29: validation and fitted blocks checked as a whole
    "band_without_1.yaml": PIXEL6.split("validation:")[0] + (
        "validation: {status: fitted, rows: 20, models: 10, folds: 4, heldout_median_error: 0.1, "
        "ratio_p10: 1.1, ratio_p90: 1.3}\n"),
    "folds_over_models.yaml": PIXEL6.split("validation:")[0] + (
        "validation: {status: fitted, rows: 20, models: 10, folds: 12, heldout_median_error: 0.1, "
        "ratio_p10: 0.9, ratio_p90: 1.1}\n"),
}

M = "--model"
A = ("analyze", "mnv2", "--hw", "pixel6-cpu")
CLI_CASES = [
    # sizes that overflow or would allocate without bound
    (("analyze", "mnv2", "--hw", "pixel6-cpu", "--resolution", "10000000000"), "resolution must be an integer from 1"),
    (("analyze", "mnv2", "--hw", "pixel6-cpu", "--resolution", "99999999999999999999999999"), "resolution must be"),
    (("trace", "mnv2", "--resolution", "100000"), "resolution must be an integer from 1 to 65536"),
    (("trace", "mnv2", "--batch", "0"), "batch must be an integer from 1"),
    (("trace", "mnv2", "--batch", "1000000"), "batch must be an integer from 1 to 65536"),
    (("trace", M, "{d}/bad_model.py:good", "--input-shape", "1,3,999999,999999"), "can be traced"),
    (("sweep", "mnv2", "--rp", "0:1e9:1e-9"), "at most 100,001"),
    (("sweep", "mnv2", "--rp", "0:inf:1"), "must be finite"),
    (("sweep", "mnv2", "--rp", "abc"), "must look like 0:500:5"),
    (("sweep", "mnv2", "--rp", "-5"), "finite and >= 0"),
    (("sweep", "mnv2", "--rp", "0:500:0"), "the step must be positive"),
    (("sweep", "mnv2", "--rp", ","), "is empty"),
    (("analyze", "mnv2", "--hw", "{d}/digits.yaml"), "too large to be a number"),
    # outputs that cannot be written, checked before any work
    (("validate", "mnv3-s", "--hw", "pixel6-cpu", "-o", "{d}/existing.txt"), "exists and is not a folder"),
    (("reproduce", "-o", "{d}/existing.txt"), "exists and is not a folder"),
    (("reproduce", "-o", "{d}/existing.txt/report"), "does not exist"),
    (("validate", "mnv3-s", "--hw", "pixel6-cpu", "-o", "{d}/missing/report"), "does not exist"),
    (("trace", "mnv2", "-o", "{d}/missing/t.csv"), "does not exist"),
    (("trace", "mnv2", "-o", "{d}"), "it is a directory"),
    (("profile", "--quick", "-o", "{d}/missing/p.yaml"), "does not exist"),
    (("fit", "{d}/two.csv", "-o", "{d}/missing/p.yaml"), "does not exist"),
    # a user's model: every exception of its code is that model's error
    (("trace", M, "{d}/bad_model.py:key", "--input-shape", "1,3,8,8"), "KeyError: 'x'"),
    (("trace", M, "{d}/bad_model.py:zero", "--input-shape", "1,3,8,8"), "ZeroDivisionError"),
    (("trace", M, "{d}/bad_model.py:asrt", "--input-shape", "1,3,8,8"), "AssertionError: bad"),
    (("trace", M, "{d}/bad_model.py:attr", "--input-shape", "1,3,8,8"), "AttributeError"),
    (("trace", M, "{d}/bad_model.py:exit0", "--input-shape", "1,3,8,8"), "SystemExit: 0"),
    (("trace", M, "{d}/bad_model.py:kbd", "--input-shape", "1,3,8,8"), "KeyboardInterrupt"),
    (("trace", M, "{d}/bad_model.py:exits"), "raised SystemExit: 3"),
    (("trace", M, "{d}/exit_at_import.py:f"), "importing"),
    (("trace", M, "{d}/raise_at_import.py:f"), "ValueError: broken at import"),
    (("trace", M, "{d}/bad_model.py:nothing"), "has no attribute 'nothing'"),
    (("trace", M, "{d}/missing.py:f"), "does not exist"),
    (("trace", M, "no_colon"), "must look like"),
    (("analyze", "--hw", "pixel6-cpu", M, "{d}/bad_model.py:key", "--input-shape", "1,3,8,8"), "KeyError"),
    # nonsense that used to be accepted
    (("sweep", "mnv2", "--bw", "nan"), "bandwidth must be a finite positive number, got nan"),
    (("sweep", "mnv2", "--bw", "inf"), "got inf"),
    (("sweep", "mnv2", "--bw", "1e-300"), "implausibly small"),
    (("sweep", "mnv2", "--bw", "-5"), "finite positive"),
    (("sweep", "mnv2", "--bw", "1e30"), "implausibly large"),
    (("sweep", "mnv2", "--vary", "bandwidth", "--peak", "nan"), "peak must be a finite positive number"),
    (("sweep", "mnv2", "--vary", "bandwidth", "--peak", "inf"), "finite positive"),
    (("sweep", "mnv2", "--vary", "bandwidth", "--peak", "0"), "finite positive"),
    (("sweep", "mnv2", "--vary", "sideways"), "vary must be one of"),
    (("fit", "{d}/dup.csv"), "lines 2 and 3 both measure mnv2"),
    (("fit", "{d}/huge.csv"), "outside the plausible range"),
    (("fit", "{d}/tiny.csv"), "outside the plausible range"),
    (("fit", "{d}/neg.csv"), "ms must be a positive number, got '-1'"),
    (("fit", "{d}/nan.csv"), "ms must be a positive number, got 'nan'"),
    (("fit", "{d}/text.csv"), "'fast'"),
    (("fit", "{d}/nocol.csv"), "no column 'ms'"),
    (("fit", "{d}/two.csv"), "at least 3 models"),
    (("fit", "{d}/rows.csv"), "at most 10,000"),
    (("fit", "{d}/unknown_model.csv"), "unknown model 'resnet50'"),
    (("fit", "{d}/dup.csv", "--terms", "maybe"), "unknown term 'maybe' in --terms"),
    (("fit", "{d}/dup.csv", "--convention", "guess"), "unknown convention 'guess'"),
    (("fit", "{d}/dup.csv", "--exec", "jit"), "unknown execution mode 'jit'"),
    (("fit", "{d}/dup.csv", "--jobs", "0"), "--jobs must be from 1 to 256"),
    (("fit", "{d}/dup.csv", "--source", "hub"), "source must be one of zoo, timm, torchvision"),
    (("fit", "{d}/throughput.csv", "--throughput-col", "sps"), "line 2: sps must be a positive number"),
    (("derive", "x", "--like", "nvidia-h100", "--peak", "fp16=1e14", "--bw", "1e12"), "derive needs a profile "
     "validated"),
    (("derive", "x", "--like", "rtx3090", "--peak", "fp16", "--bw", "1e12"), "--peak must look like fp16=3.5e13"),
    (("derive", "x", "--like", "rtx3090", "--peak", "fp16=4", "--bw", "1e12"), "implausibly small"),
    (("reproduce", "papers"), "unknown target 'papers'"),
    (("fit", "{d}/dup.csv", "--terms", "kernel,x"), "unknown term 'x' in --terms"),
    (("derive", "x", "--like", "rtx3090", "--peak", "fp16=1e14", "--bw", "1e3"), "bandwidth = 1000 B/s is "
     "implausibly small"),
    (("derive", "x", "--like", "rtx3090", "--peak", "int4=1e14", "--bw", "1e12"), "unknown dtype 'int4'"),
    # issue 18: fitted ridge points and sweeps within [0, 1e6] MACs/byte
    (("analyze", "mnv2", "--hw", "{d}/rp_tiny.yaml"), "ridge points go from 0.001 to 1e+06"),
    (("analyze", "mnv2", "--hw", "{d}/rp_huge.yaml"), "ridge points go from 0.001 to 1e+06"),
    (("analyze", "mnv2", "--hw", "{d}/rp_peak.yaml"), "gives a int8 peak of 5e+17 MAC/s"),
    (("analyze", "mnv2", "--hw", "{d}/eff.yaml"), "fitted.efficiency.dwconv = 1e-09 is outside"),
    (("analyze", "mnv2", "--hw", "{d}/val.yaml"), "ratio_p10 <= ratio_p90"),
    (("sweep", "mnv2", "--rp", "1e-300,1e300"), "implausible"),
    (("sweep", "mnv2", "--rp", "0,2e6"), "ridge points go from 0 to 1e+06"),
    (("sweep", "mnv2", "--rp", "0,1e-9"), "implausibly small"),
    (("pareto", "mnv2", "mnv1", "--rp", "0:3e6:1e6"), "ridge points go from 0 to 1e+06"),
    # deep YAML
    (("hw", "{d}/deep_list.yaml"), "nested more than 16 levels deep"),
    (("hw", "{d}/deep_map.yaml"), "nested more than 16 levels deep"),
    # CSV suffixes read as plain text
    (("fit", "{d}/two.zip"), "at least 3 models, got 2"),
    (("fit", "{d}/two.xz"), "at least 3 models, got 2"),
    (("fit", "{d}/two.tar"), "at least 3 models, got 2"),
    (("fit", "{d}/two.zst"), "at least 3 models, got 2"),
    (("pareto", "mnv2", "mnv1", "--accuracy", "{d}/acc_neg.zip"), "not a percentage"),
    # names
    (("analyze", "mnv2", "--hw", "pixel6-cpu", "-o", "{d}/" + "n" * 256), "file name is longer than"),
    (("trace", "mnv2", "-o", "{d}/" + "n" * 300 + ".csv"), "file name is longer than"),
    (("validate", "mnv3-s", "--hw", "pixel6-cpu", "-o", "-"), "a report folder cannot be standard output"),
    # resources
    (("validate", "mnv3-s", "--hw", "pixel6-cpu", "--threads", "100000"), "more than four times"),
    (("profile", "--threads", "100000"), "more than four times"),
    # nonsense widths and digits
    (("analyze", "mnv2", "--hw", "pixel6-cpu", "--width", "1e-300"), "from 1/64 to 4"),
    (("analyze", "mnv2", "--hw", "pixel6-cpu", "--width", "64"), "from 1/64 to 4"),
    (("trace", "mnv2", "--width", "0.001"), "from 1/64 to 4"),
    (("sweep", "mnv2", "--rp", "\u0665,\u0665\u0660"), "ASCII digits"),
    (("analyze", "mnv2", "--hw", "pixel6-cpu", "--resolution", "\u0662\u0662\u0664"), "ASCII digits"),
    (("analyze", "mnv2", "--hw", "pixel6-cpu", "--batch", "\uff12"), "ASCII digits"),
    (("fit", "{d}/missing.csv"), "does not exist"),
    (("pareto", "mnv2", "mnv1", "--accuracy", "{d}/acc_neg.csv"), "not a percentage"),
    (("pareto", "mnv2", "mnv1", "--accuracy", "{d}/acc_big.csv"), "not a percentage"),
    (("pareto", "mnv2", "mnv1", "--accuracy", "{d}/acc_inf.csv"), "not a percentage"),
    (("pareto", "mnv2", "mnv1", "--accuracy", "{d}/acc_dup.csv"), "rows 2 and 3 both give mnv2"),
    (("pareto", "mnv2", "mnv1", "--accuracy", "{d}/acc_text.csv"), "must be numeric"),
    (("analyze", "mnv2--1x", "--hw", "pixel6-cpu"), "unknown model 'mnv2--1x'"),
    (("trace", "mnv2__1.5x"), "unknown model"),
    ((*A, "--dtype", ""), "unknown dtype ''"),
    ((*A, "--dtype", "int4"), "unknown dtype 'int4'"),
    (("analyze", "mnv2", "--hw", "{d}/ceil.yaml", "--calibrated"), "implausibly small"),
    ((*A, "--batch", "0"), "batch must be"),
    ((*A, "--width", "0"), "width multiplier must be a finite positive number, got 0.0"),
    ((*A, "--width", "-1"), "width multiplier must be a finite positive number, got -1.0"),
    ((*A, "--width", "100"), "width multiplier must be from 1/64 to 4, got 100"),
    ((*A, "--convention", "foo"), "unknown convention 'foo'"),
    ((*A, "--exec", "jit"), "unknown execution mode 'jit'"),
    ((*A, "--calibrated", "--spec"), "not both"),
    ((*A, "--calibrated"), "no measured op ceilings"),
    (("analyze", "mnv2", "--hw", "pixel7-gpu", "--on-chip"), "no on_chip_bytes"),
    (("analyze", "mnv2"), "missing --hw"),
    (("analyze", "mnv2", "--hw", "pixel99"), "unknown hardware 'pixel99'"),
    (("analyze", "mnv2", "--hw", "{d}/missing.yaml"), "does not exist"),
    ((*A, "--top", "0"), "--top must be a positive integer"),
    (("validate", "mnv3-s", "--hw", "pixel6-cpu", "--runs", "0"), "--runs must be a positive integer"),
    (("validate", "mnv3-s", "--hw", "pixel6-cpu", "--batch", "0"), "--batch must be an integer"),
    (("validate", "mnv3-s", "--hw", "pixel6-cpu", "--exec", "graph"), "needs --device cuda"),
    (("validate", "mnv3-s", "--hw", "pixel6-cpu", "--threads", "0"), "--threads must be a positive integer"),
    (("validate", "mnv3-s", "--hw", "pixel6-cpu", "--format", "markdown"),
     "'markdown' is not one of 'table', 'csv', 'json'"),
    (("profile", "--batch", "0"), "--batch must be positive integers"),
    (("profile", "--batch", "x"), "--batch must be integers"),
    (("profile", "--dtype", "int4"), "unknown dtype 'int4'"),
    (("profile", "--device", "tpu"), "device must be cpu or cuda"),
    # profiles: size, aliases, free text, schema
    (("analyze", "mnv2", "--hw", "{d}/big.yaml"), "too large for a hardware profile"),
    (("analyze", "mnv2", "--hw", "{d}/anchor.yaml"), "anchors and aliases"),
    (("analyze", "mnv2", "--hw", "{d}/bomb.yaml"), "anchors and aliases"),
    (("analyze", "mnv2", "--hw", "{d}/long.yaml"), "at most 4,096"),
    (("analyze", "mnv2", "--hw", "{d}/nested_machine.yaml"), "machine.cpu must be a number or a text"),
    (("analyze", "mnv2", "--hw", "{d}/list_description.yaml"), "description must be text"),
    (("analyze", "mnv2", "--hw", "{d}/syntax.yaml"), "is not valid YAML"),
    (("analyze", "mnv2", "--hw", "{d}/list.yaml"), "must be a YAML mapping"),
    (("analyze", "mnv2", "--hw", "{d}/empty.yaml"), "an empty file"),
    (("analyze", "mnv2", "--hw", "{d}/unknown_key.yaml"), "unknown key 'peak_tops'"),
    (("analyze", "mnv2", "--hw", "{d}/tops.yaml"), "units go in the key name"),
    (("analyze", "mnv2", "--hw", "{d}/kernel5s.yaml"), "implausibly large (above 1 s)"),
    (("analyze", "mnv2", "--hw", "{d}/jit.yaml"), "unknown execution mode 'jit'"),
    (("analyze", "mnv2", "--hw", "{d}/batch0.yaml"), "must be a positive integer"),
    (("analyze", "mnv2", "--hw", "{d}/act.yaml"), "needs on_chip_bytes"),
    # names and shapes
    (("trace", "resnet50"), "unknown model 'resnet50'"),
    (("trace", "mnv2", "--input-shape", "1,3,a"), "--input-shape must be integers"),
    (("trace", "mnv2", "--input-shape", "3,224,224"), "rank 3"),
    (("trace",), "missing MODEL"),
    (("sweep", "--models", "nope"), "unknown model group 'nope'"),
    (("sweep", "--family", "mnv9"), "unknown family 'mnv9'"),
    (("sweep",), "no models given"),
    (("hw", "nope"), "unknown hardware 'nope'"),
    (("reproduce", "mnv3"), "unknown target 'mnv3'; use mnv4 or profiles"),
    (("models", "--nope"), "No such option"),
    # issue 29: a table names models (module:factory cells never run), numbers in ASCII digits, one
    # name per column; options that name nothing; an output that is an input; patterns of profiles
    (("fit", "{d}/module_cell.csv"), "line 2: model 'os:abort' names a module to import"),
    (("fit", "{d}/dup_col.csv"), "column 'ms' appears twice"),
    (("fit", "{d}/underscore.csv"), "without _ separators"),
    (("fit", "{d}/arabic.csv"), "write numbers with ASCII digits (0-9)"),
    (("fit", "{d}/four.csv", "--terms", ","), "names no term"),
    (("fit", "{d}/four.csv", "--throughput-col", ""), "--throughput-col names no column"),
    (("fit", "{d}/four.csv", "-o", "{d}/four.csv"), "writing it would replace the input"),
    (("derive", "rtx3090", "--like", "rtx3090", "--peak", "fp16=1e14", "--bw", "1e12"), "is a shipped profile"),
    (("derive", "", "--like", "rtx3090", "--peak", "fp16=1e14", "--bw", "1e12"), "needs a name"),
    (("derive", "x", "--like", "rtx3090", "--peak", "fp16=1e14", "--peak", "fp16=2e14", "--bw", "1e12"),
     "given more than once"),
    (("analyze", "mnv2", "--hw", "nomatch*"), "matches no shipped profile"),
    (("analyze", "mnv2", "--hw", "kind:tpu"), "unknown kind 'tpu'"),
    (("sweep", "mnv2", "--hw", "pixel*"), "this takes one profile"),
    (("analyze", "mnv2", "--hw", "{d}/band_without_1.yaml"), "leaves out 1"),
    (("analyze", "mnv2", "--hw", "{d}/folds_over_models.yaml"), "is more than validation.models"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    for name, text in FILES.items():
        (d / name).write_text(text)
    return d


def _snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()
            and "__pycache__" not in p.parts}


def test_the_table_covers_every_class():
    assert len(CLI_CASES) + len(API_CASES) >= 200
    assert len({args for args, _ in CLI_CASES}) == len(CLI_CASES)


@pytest.mark.parametrize(("args", "message"), CLI_CASES, ids=[" ".join(a)[:60] for a, _ in CLI_CASES])
def test_cli_bad_input(cli, files, args, message):
    before = _snapshot(files)
    code, out, err = cli(*[a.replace("{d}", str(files)) for a in args])
    lines = err.splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert message in err, err
    assert "Traceback" not in err + out and "np.float64" not in err
    assert _snapshot(files) == before  # nothing written, nothing half-written, the existing file untouched


API_CASES = [
    (lambda: sweep([]), "the list is empty"),
    (lambda: sweep("mnv2"), "must be a list of names, got the string"),
    (lambda: sweep(["mnv2"], ["a"]), "ridge points must be numbers"),
    (lambda: sweep(["mnv2"], bw=float("nan")), "got nan"),
    (lambda: sweep(["mnv2"], bw=np.float64("inf")), "got inf"),
    (lambda: sweep(["mnv2"], vary="both"), "vary must be one of"),
    (lambda: roofline.build_model("mnv2", device="tpu"), "unknown device 'tpu'"),
    (lambda: roofline.build_model("mnv2", num_classes=0), "num_classes must be an integer"),
    (lambda: roofline.analyze("mnv2", "pixel6-cpu", convention=["default"]), "unknown convention list"),
    (lambda: roofline.analyze("mnv2", "pixel6-cpu", dtype=""), "unknown dtype ''"),
    (lambda: roofline.analyze("mnv2", "pixel6-cpu", mode="best"), "roofline mode must be"),
    (lambda: roofline.analyze("mnv2", "pixel6-cpu", execution=3), "unknown execution mode 3"),
    (lambda: roofline.analyze("mnv2", "pixel6-cpu", on_chip="yes"), "on_chip must be True or False"),
    (lambda: roofline.analyze("mnv2", "pixel6-cpu", overhead="no"), "overhead must be True or False"),
    (lambda: roofline.analyze("mnv2", {"name": "x"}), "missing field 'kind'"),
    (lambda: roofline.trace("mnv2", width="1.5"), "width multiplier must be a number, got '1.5'"),
    (lambda: roofline.trace("mnv2", resolution=224.0), "resolution must be an integer, got 224.0"),
    (lambda: roofline.trace("mnv2", resolution=np.float64(224)), "got 224.0"),
    (lambda: roofline.trace("mnv2", fuse="no"), "fuse must be True or False"),
    (lambda: roofline.trace("mnv2", strict=1), "strict must be True or False"),
    (lambda: roofline.trace("mnv2", batch=True), "batch must be an integer, got True"),
    (lambda: roofline.trace("mnv2", input_shape="1,3,224,224"), "sequence of integers"),
    (lambda: roofline.trace("mnv2", input_shape=()), "input shape is empty"),
    (lambda: roofline.trace("mnv2", input_shape=(1, 3, 224, 224), resolution=224), "not both"),
    (lambda: roofline.trace("mnv2", resolution=(224,)), "resolution must be a positive integer or (H, W)"),
    (lambda: roofline.trace(42), "zoo name or a torch.nn.Module"),
    (lambda: roofline.model_card("mnv2", width=float("nan")), "width multiplier must be a finite positive"),
    (lambda: roofline.model_card(""), "non-empty string"),
    (lambda: roofline.load_hardware(3.5), "unknown hardware '3.5'"),
    (lambda: validate([], "pixel6-cpu"), "no models"),
    # issue 18: API errors are RooflineErrors
    (lambda: sweep(["mnv2"], [0, 5], accuracy=[1, 2]), "accuracy must map model names"),
    (lambda: sweep(["mnv2"], [5], accuracy={"mnv2": "x"}), "percentage from 0 to 100, got 'x'"),
    (lambda: sweep(["mnv2"], [5], accuracy={"mnv2": float("nan")}), "percentage from 0 to 100, got nan"),
    (lambda: sweep(["mnv2"], [5], progress=1), "progress must be a function"),
    (lambda: sweep(["mnv2"], [1e300]), "ridge points go from 0 to 1e+06"),
    (lambda: sweep(["mnv2"], [5], mode="spec"), "give hw="),
    (lambda: pareto(pd.DataFrame()), "no column 'model'"),
    (lambda: pareto(None), "takes a DataFrame"),
    (lambda: front_ranges(pd.DataFrame()), "no column 'model'"),
    (lambda: front_ranges("x"), "takes a DataFrame"),
    (lambda: fit_roofline([(np.ones(2), np.ones(2))] * 3, ["a", "b", "c"]), "must be numbers"),
    (lambda: fit_roofline([(np.ones(2), np.ones(2))] * 3, [[1.0], [2.0], [3.0]]), "flat list"),
    (lambda: roofline.analyze("mnv2", "pixel6-cpu", width=1e-300), "from 1/64 to 4"),
    (lambda: roofline.load_hardware({**_pixel6(), "fitted": {"ridge_point_macs_per_byte": 1e-300}}), "implausible"),
    (lambda: roofline.load_hardware({**_pixel6(), "fitted": {"ridge_point_macs_per_byte": 1e300}}), "implausible"),
    (lambda: read_measurements(None), "does not exist"),
    (lambda: derive("x", "pixel6-cpu", {}, 1e10), "give the new device's peak"),
    (lambda: derive("x", "pixel6-cpu", {"int4": 1e12}, 1e10), "unknown dtype 'int4'"),
    (lambda: roofline.trace("mnv2", width=100), "from 1/64 to 4"),
    (lambda: sweep(["mnv2"], "\u0665,\u0665\u0660"), "ASCII digits"),
    (lambda: pareto(pd.DataFrame({"model": ["a", "a"], "rp_macs_per_byte": [5.0, 5.0], "latency_s": [1.0, 2.0],
                                  "top1": [70.0, 70.0]})), "appears twice at one ridge point"),
    (lambda: roofline.load_hardware({**_pixel6(), "fitted": {"ridge_point_macs_per_byte": 5e5,
                                                             "mem_bw_bytes_per_s": 1e12}}), "peak of 5e+17"),
    (lambda: roofline.analyze("mnv2", {**_pixel6(), "validation": {"status": "guessed"}}), "missing 'rows'"),
]


def _pixel6() -> dict:
    import yaml

    d = yaml.safe_load(PIXEL6)
    d.pop("fitted", None)
    d.pop("validation", None)
    return d


@pytest.mark.parametrize(("call", "message"), API_CASES, ids=[m[:40] for _, m in API_CASES])
def test_api_bad_input(call, message):
    with pytest.raises(RooflineError) as info:
        call()
    assert message in str(info.value), str(info.value)
    assert "np.float64" not in str(info.value) and "np.int64" not in str(info.value)


def test_numpy_integers_are_accepted():
    assert roofline.trace("mnv2", resolution=np.int64(224)).macs == 300_774_272
    assert roofline.trace("mnv2", batch=np.int32(2)).macs == 2 * 300_774_272
    a = roofline.analyze("mnv2", "pixel6-cpu", batch=np.int64(2))
    assert type(a.totals["macs"]) is int and a.totals["macs"] == 601_548_544


def test_large_totals_are_exact_python_integers():
    t = roofline.trace("mnv4-hybrid-l", batch=4096, resolution=1024)  # 2.85e14 MACs
    assert t.macs == 4096 * roofline.trace("mnv4-hybrid-l", resolution=1024).macs and type(t.macs) is int
    assert t.macs == sum(int(v) for v in t.layers["macs"].tolist())
    assert t.totals["macs"] == t.macs


def test_fifo_target_is_written_in_place_not_replaced(cli, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    code, _, err = cli("trace", "mnv3-s", "--format", "csv", "-o", str(fifo))
    reader.join(timeout=30)
    assert code == 0, err
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still a FIFO, not a regular file renamed over it
    assert got and got[0].startswith(b"name,op,") and got[0].count(b"\n") == 1 + len(roofline.trace("mnv3-s"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_refused_command_leaves_existing_report_untouched(cli, tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    (report / "README.md").write_text("old report")
    code, _, err = cli("validate", "mnv3-s", "--hw", "pixel6-cpu", "--runs", "0", "-o", str(report))
    assert code == 2 and (report / "README.md").read_text() == "old report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_interrupted_report_leaves_nothing(tmp_path, monkeypatch):
    """A report folder is built aside and renamed into place: an interruption leaves no folder."""
    from roofline.studies import reproduce

    def interrupted(progress=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(reproduce, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reproduce.write_report(tmp_path / "paper")
    assert list(tmp_path.iterdir()) == []


def _run(args, **kw):
    return subprocess.run([sys.executable, "-m", "roofline.cli", *args], capture_output=True, text=True,
                          timeout=120, **kw)


def test_closed_stdout_is_one_error_line():
    p = subprocess.run([sys.executable, "-m", "roofline.cli", "hw"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, timeout=120,
                       preexec_fn=lambda: os.close(1))
    assert p.returncode == 2 and p.stderr == "error: standard output is closed: give -o FILE, or do not close it\n"


@pytest.mark.slow
def test_sigint_and_sigterm_end_with_one_line(tmp_path):
    import signal
    import time

    for sig, code, word in ((signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")):
        out = tmp_path / f"report-{sig.name}"
        p = subprocess.Popen([sys.executable, "-m", "roofline.cli", "validate", "mnv4-conv-l", "--hw", "pixel6-cpu",
                              "--runs", "500", "-o", str(out)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not any(tmp_path.glob(f".{out.name}.*")) and time.monotonic() < deadline:
            time.sleep(0.1)  # the report folder is being built aside: the command is running
        time.sleep(0.5)
        p.send_signal(sig)
        _, err = p.communicate(timeout=60)
        lines = err.splitlines()  # progress lines (stderr is not a terminal), then one error line
        assert p.returncode == code and lines[-1] == f"error: {word}", (sig, err)
        assert sum(line.startswith("error") for line in lines) == 1 and "Traceback" not in err
        assert list(tmp_path.iterdir()) == []  # the temporary report folder is gone


def test_messages_print_plain_numbers():
    with pytest.raises(RooflineError) as info:
        sweep(["mnv2"], bw=np.float64(1e-300))
    assert str(info.value) == "bandwidth = 1e-300 B/s is implausibly small (below 1e+06 B/s)"


def test_rewriting_a_report_keeps_the_folders_other_files(tmp_path):
    from roofline.core.io import report_folder, write_atomic

    out = tmp_path / "report"
    out.mkdir()
    (out / "README.md").write_text("old")
    (out / "profile.yaml").write_text("mine")
    with report_folder(out) as folder:
        write_atomic(folder / "README.md", "new")
    assert (out / "README.md").read_text() == "new" and (out / "profile.yaml").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.05, 0.5, 2.0])
def test_signals_at_any_moment_end_with_the_documented_line_and_code(delay):
    """During the torch import (0.05 s, 0.5 s) and while tracing (2 s): one line, 130 or 143, no traceback."""
    import signal
    import time

    for sig, code, word in ((signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")):
        for _attempt in range(3):
            p = subprocess.Popen([sys.executable, "-m", "roofline.cli", "sweep", "--group", "zoo", "--rp",
                                  "0:500:1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            time.sleep(delay)
            p.send_signal(sig)
            _, err = p.communicate(timeout=120)
            # killed by the signal with nothing said: it arrived before the interpreter ran any of
            # roofline's code (possible on a loaded machine, outside any program's reach): try again
            if not (p.returncode == -sig and not err):
                break
        if p.returncode == 0:  # finished before the signal (a fast machine): nothing to check
            continue
        assert p.returncode == code and err.splitlines()[-1] == f"error: {word}", (sig, delay, err)
        assert "Traceback" not in err


def test_dash_means_standard_output(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("analyze", "mnv2", "--hw", "pixel6-cpu", "--format", "json", "-o", "-")
    assert code == 0, err
    assert json.loads(out)["model"] == "mnv2" and list(tmp_path.iterdir()) == []  # no file named '-'


def test_a_symlink_target_is_written_through(cli, tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    code, _, err = cli("trace", "mnv2", "--format", "csv", "-o", str(link))
    assert code == 0, err
    assert link.is_symlink() and real.read_text().startswith("name,") or "mnv2" in real.read_text()
    assert link.resolve() == real.resolve()


def test_a_legal_255_byte_name_is_written(cli, tmp_path):
    name = tmp_path / ("n" * 251 + ".csv")
    code, _, err = cli("trace", "mnv2", "--format", "csv", "-o", str(name))
    assert code == 0 and name.is_file(), err
    assert [p.name for p in tmp_path.iterdir()] == [name.name]  # and no temporary file left


def test_ascii_terminal_gets_ascii_units():
    env = dict(os.environ, PYTHONIOENCODING="ascii")
    for args in (["analyze", "mnv2", "--hw", "pixel8-edgetpu"], ["hw", "pixel8-edgetpu"]):
        p = subprocess.run([sys.executable, "-m", "roofline.cli", *args], capture_output=True, text=True,
                           env=env, timeout=120)
        assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
        assert " us" in p.stdout and "µ" not in p.stdout


def test_a_printing_model_file_keeps_json_valid(tmp_path):
    (tmp_path / "printer.py").write_text(FILES["printer.py"])
    p = subprocess.run([sys.executable, "-m", "roofline.cli", "trace", "--model", f"{tmp_path}/printer.py:f",
                        "--input-shape", "1,3,16,16", "--format", "json"], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    json.loads(p.stdout)  # the model's prints went to stderr
    assert "hello from the model file" in p.stderr and "built" in p.stderr


def test_torchvision_models_that_are_not_classifiers():
    pytest.importorskip("torchvision")
    from roofline.core.errors import TraceError

    with pytest.raises(TraceError, match="ObjectDetection weights set no input size; give --resolution"):
        roofline.trace("torchvision:fasterrcnn_resnet50_fpn")
    with pytest.raises(TraceError, match="OpticalFlow weights set no input size"):
        roofline.trace("torchvision:raft_small")
    # segmentation traces at its weights' resize size (520 px) ...
    t = roofline.trace("torchvision:fcn_resnet50")
    assert t.input_shape == (1, 3, 520, 520) and t.macs > 0
    assert roofline.model_card("torchvision:fcn_resnet50").resolution == 520
    # ... and detection stops at its first data-dependent op, named
    with pytest.raises(TraceError, match="data-dependent"):
        roofline.trace("torchvision:fasterrcnn_resnet50_fpn", resolution=320)


def test_a_model_file_that_closes_stdout_is_one_error_line(tmp_path):
    (tmp_path / "closer.py").write_text("import os\nfrom torch import nn\n\ndef f():\n    os.close(1)\n"
                                        "    return nn.Conv2d(3, 8, 3)\n")
    p = subprocess.run([sys.executable, "-m", "roofline.cli", "trace", "--model", f"{tmp_path}/closer.py:f",
                        "--input-shape", "1,3,16,16"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and p.stderr.startswith("error: "), p.stderr
    assert "Traceback" not in p.stderr


def test_library_models_that_are_not_classifiers_fail_in_one_line(cli):
    pytest.importorskip("torchvision")
    code, _, err = cli("analyze", "torchvision:maskrcnn_resnet50_fpn", "--hw", "pixel8-edgetpu")
    assert code == 2 and err.count("\n") == 1 and "give --resolution" in err, err
    code, _, err = cli("analyze", "torchvision:ssdlite320_mobilenet_v3_large", "--hw", "pixel8-edgetpu",
                       "--resolution", "320")
    assert code == 2 and err.count("\n") == 1 and "data-dependent" in err, err
    code, out, err = cli("analyze", "torchvision:deeplabv3_mobilenet_v3_large", "--hw", "pixel8-edgetpu")
    assert code == 0 and "deeplabv3" in out, err


def test_a_model_file_without_a_shape_says_which_it_traced(cli, tmp_path):
    (tmp_path / "net.py").write_text("import torch\n\ndef f():\n    return torch.nn.Conv2d(3, 8, 3)\n")
    code, out, err = cli("trace", "--model", f"{tmp_path}/net.py:f", "--format", "json")
    assert code == 0, err
    assert "traced at 1x3x224x224" in err and "--input-shape" in err
    assert json.loads(out)["input_shape"] == [1, 3, 224, 224]
    code, out, err = cli("trace", "--model", f"{tmp_path}/net.py:f", "--input-shape", "1,3,32,32", "--format", "json")
    assert code == 0 and "traced at" not in err


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.05, 2.0])
def test_a_background_job_keeps_ctrl_c_ignored_and_still_ends_on_sigterm_with_its_line(delay):
    """Started as a shell's background job starts it (SIGINT ignored): SIGINT does nothing, during the torch import
    or while tracing, and SIGTERM still ends it with ``error: terminated`` and 143."""
    import signal
    import time

    for _attempt in range(3):
        p = subprocess.Popen([sys.executable, "-m", "roofline.cli", "sweep", "--group", "zoo", "--rp", "0:500:1"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        time.sleep(delay)
        p.send_signal(signal.SIGINT)
        time.sleep(0.3)
        alive = p.poll() is None
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=120)
        if not (p.returncode == -signal.SIGTERM and not err):  # see the test above: it arrived before roofline ran
            break
    if p.returncode == 0:  # finished before the signals (a fast machine): nothing to check
        return
    assert alive, err
    assert p.returncode == 143 and err.splitlines()[-1] == "error: terminated", (delay, p.returncode, err)
    assert "Traceback" not in err
