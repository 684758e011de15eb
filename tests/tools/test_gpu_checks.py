"""The GPU checks tool: its help, the commands it builds (without running them), and how one step
runs: a log, the lines worth reading, the copied tables, and a time limit that stops the step."""

import subprocess
import sys

import pytest

from practical_dl.tools import gpu_checks
from practical_dl.tools.gpu_checks import STEP_NAMES, Step, build_steps, main, run_step, worth_reading


def test_help_names_every_option(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for option in ("--out", "--env", "--steps", "--dry-run", "--cuda-tests-limit", "--gan-limit", "--ddp-one-gpu-limit"):
        assert option in text


def test_it_runs_as_a_module():
    result = subprocess.run([sys.executable, "-m", "practical_dl.tools.gpu_checks", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "gpu_checks" in result.stdout


def test_the_steps_are_the_cuda_tests_the_benchmark_the_default_run_the_dcgan_and_torchrun_with_one_rank():
    steps = build_steps(python="py", env_name="gpu", limits={"gan": 99})
    assert [s.name for s in steps] == list(STEP_NAMES)
    cuda_tests, benchmark, default_run, gan, ddp = steps
    assert cuda_tests.command == ("py", "-m", "pytest", "-m", "cuda", "-p", "no:cacheprovider", "-q")
    assert cuda_tests.limit_s == gpu_checks.DEFAULT_LIMITS["cuda_tests"] == 240 and not cuda_tests.copies
    assert benchmark.command == ("py", "-m", "practical_dl.tools.benchmark", "--device", "cuda")
    assert default_run.command == ("py", "-m", "kedro", "run", "--env", "gpu")
    assert gan.command == ("py", "-m", "kedro", "run", "--env", "gpu", "--pipelines", "gan") and gan.limit_s == 99
    assert ddp.command[:6] == ("py", "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1")
    assert ddp.command[6:] == ("-m", "kedro", "run", "--env", "gpu", "--pipelines", "training", "--params", gpu_checks.DDP_PARAMS)
    assert ("data/08_reporting/results.md", "results.md") in default_run.copies


def test_a_dry_run_prints_the_commands_and_runs_nothing(monkeypatch, tmp_path, capsys):
    def refuse(*args, **kwargs):
        raise AssertionError("a dry run started a process")

    monkeypatch.setattr(gpu_checks.subprocess, "Popen", refuse)
    monkeypatch.setattr(gpu_checks.subprocess, "run", refuse)
    out = tmp_path / "results"
    assert main(["--dry-run", "--out", str(out), "--env", "test", "--steps", "default_run", "gan"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 2 and printed[0].startswith("default_run (limit 200 s): ") and printed[1].endswith("--env test --pipelines gan")
    assert not out.exists()


def test_a_step_writes_its_log_copies_its_tables_and_prints_what_is_worth_reading(tmp_path, capsys):
    (tmp_path / "results.md").write_text("| model | test error |\n")
    out = tmp_path / "out"
    out.mkdir()
    step = Step(
        "demo", 30, (sys.executable, "-c", "print('noise'); print('Pipeline execution completed successfully')"), (("results.md", "r.md"),)
    )
    assert run_step(step, out, cwd=tmp_path) == 0
    assert "noise" in (out / "demo.log").read_text()
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("=== demo: ") and printed[1].startswith("=== demo: exit 0 after ")
    assert printed[2:] == ["Pipeline execution completed successfully", "| model | test error |"]
    assert (out / "r.md").read_text() == "| model | test error |\n"


def test_a_step_out_of_time_is_stopped_with_status_124(tmp_path):
    step = Step("slow", 0.5, (sys.executable, "-c", "import time; time.sleep(30)"))
    assert run_step(step, tmp_path, cwd=tmp_path) == 124


def test_only_the_telling_lines_are_kept():
    log = 'epoch 3/9 loss 0.2\n  File "x.py", line 3\nTraceback (most recent call last)\nimages/s 4000\n'
    assert worth_reading(log) == ["Traceback (most recent call last)", "images/s 4000"]


def test_pytests_summary_is_worth_reading():
    log = (
        "....s.F\n"
        "SKIPPED [1] tests/core/test_cuda.py:70: needs a CUDA GPU\n"
        "FAILED tests/integration/test_gpu_runs.py::test_torchrun_trains_with_nccl_on_every_visible_gpu - AssertionError\n"
        "1 failed, 5 passed, 1 skipped, 700 deselected in 95.0s\n"
    )
    assert worth_reading(log) == log.splitlines()[1:]
