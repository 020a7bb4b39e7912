"""sweep: workloads × hardware × formats into a DataFrame, locally and on executors."""

from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

from lowbit import simulator

GRID = dict(workloads=["llama2-7b-decode", "llama3-8b-decode"], hardware=["a100", "tpu-v1"],
            weights=["int4", "int8"], activations="int8")


def test_sweep_grid():
    df = simulator.sweep(**GRID, progress=False)
    assert isinstance(df, pd.DataFrame)
    assert len(df) == 2 * 2 * 2
    assert list(df["workload"][:4]) == ["llama2-7b-decode"] * 4
    assert (df["error"] == "").all()
    one = simulator.estimate("llama3-8b-decode", "tpu-v1", weights="int4", activations="int8")
    row = df[(df.workload == "llama3-8b-decode") & (df.hardware == "tpu-v1") & (df.weights == "int4")]
    assert row["energy_pj"].item() == pytest.approx(one.energy_pj)
    assert row["cycles"].item() == pytest.approx(one.cycles)
    assert (df["weights_bytes"][df.weights == "int4"].values * 2
            == pytest.approx(df["weights_bytes"][df.weights == "int8"].values))


def test_infeasible_combination_is_a_row_with_its_reason():
    df = simulator.sweep("llama2-7b-decode", ["a100"], ["float64", "int8"], "float64",
                         progress=False)
    assert df["error"].str.contains("precision").tolist() == [True, True]
    assert df["energy_pj"].isna().all()


def test_bad_names_fail_before_running():
    with pytest.raises(ValueError, match="activations"):
        simulator.sweep("llama2-7b-decode", "a100", "int4", ["int8", "int77"], progress=False)


def test_thread_pool_executor_gives_the_same_table():
    local = simulator.sweep(**GRID, progress=False)
    with ThreadPoolExecutor(2) as ex:
        remote = simulator.sweep(**GRID, executor=ex, progress=False)
    pd.testing.assert_frame_equal(local, remote)


def test_dask_cluster_executor():
    """A real local Dask cluster (in-process workers) through its concurrent.futures executor."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        df = simulator.sweep(**GRID, executor=client.get_executor(), progress=False)
    pd.testing.assert_frame_equal(df, simulator.sweep(**GRID, progress=False))


def test_progress_bar(capsys):
    simulator.sweep("llama2-7b-decode", "a100", "int4", "int8", progress=True)
    assert "sweep" in capsys.readouterr().err


class _Broken:
    """A machine whose model fails with an unexpected exception (a bug, not an infeasibility)."""

    name = "broken"

    def gemm(self, m, k, n, *, a_format=None, b_format=None, accumulator=None):
        raise ZeroDivisionError("the model divided by zero")


FAILING = dict(workloads="llama2-7b-decode", hardware=["tpu-v1", _Broken()],
               weights=["int4", "int8"], activations="int8")


def test_unexpected_failure_names_its_point_and_keeps_completed_rows():
    with pytest.raises(simulator.SweepError) as info:
        simulator.sweep(**FAILING, progress=False)
    e = info.value
    assert e.combination == {"workload": "llama2-7b-decode", "hardware": "broken",
                             "weights": "int4", "activations": "int8", "kv_cache": "int8",
                             "accumulator": "native"}
    msg = str(e)
    for part in ("workload='llama2-7b-decode'", "hardware='broken'", "weights='int4'",
                 "activations='int8'", "kv_cache='int8'", "accumulator='native'",
                 "ZeroDivisionError: the model divided by zero"):
        assert part in msg
    assert isinstance(e.__cause__, ZeroDivisionError)
    # the two tpu-v1 points ran before the failure: they come back, as a clean sweep has them
    clean = simulator.sweep("llama2-7b-decode", "tpu-v1", ["int4", "int8"], "int8",
                            progress=False)
    pd.testing.assert_frame_equal(e.completed, clean)


def test_unexpected_failure_on_an_executor():
    with ThreadPoolExecutor(2) as ex, pytest.raises(simulator.SweepError) as info:
        simulator.sweep(**FAILING, executor=ex, progress=False)
    e = info.value
    assert e.combination["hardware"] == "broken" and isinstance(e.__cause__, ZeroDivisionError)
    clean = simulator.sweep("llama2-7b-decode", "tpu-v1", ["int4", "int8"], "int8",
                            progress=False)
    assert list(e.completed.columns) == list(clean.columns)
    assert len(e.completed) <= 2 and set(e.completed["hardware"]) <= {"tpu-v1"}
    for _, row in e.completed.iterrows():
        assert row["energy_pj"] == clean[clean.weights == row["weights"]]["energy_pj"].item()


def test_first_point_failing_returns_an_empty_table_with_the_columns():
    with pytest.raises(simulator.SweepError) as info:
        simulator.sweep("llama2-7b-decode", _Broken(), "int4", "int8", progress=False)
    clean = simulator.sweep("llama2-7b-decode", "tpu-v1", "int4", "int8", progress=False)
    assert info.value.completed.empty
    assert list(info.value.completed.columns) == list(clean.columns)


def test_fits_column():
    df = simulator.sweep(["llama2-7b-decode", "llama2-70b-decode"], ["a100", "tpu-v1"],
                         "float16", "float16", progress=False)
    got = {(r.workload, r.hardware): r.fits for r in df.itertuples()}
    assert got == {("llama2-7b-decode", "a100"): True, ("llama2-7b-decode", "tpu-v1"): None,
                   ("llama2-70b-decode", "a100"): False, ("llama2-70b-decode", "tpu-v1"): None}


def test_bad_accumulator_and_arguments_fail_before_running():
    with pytest.raises(ValueError, match="accumulator must be a scalar format"):
        simulator.sweep("llama2-7b-decode", "a100", "int4", "int8",
                        accumulator=["float32", "mxfp4"], progress=False)
    with pytest.raises(TypeError, match="executor"):
        simulator.sweep("llama2-7b-decode", "a100", "int4", "int8", executor=2, progress=False)
    with pytest.raises(TypeError, match="progress"):
        simulator.sweep("llama2-7b-decode", "a100", "int4", "int8", progress="no")
