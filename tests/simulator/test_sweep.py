"""sweep: workloads × hardware × formats into a DataFrame, locally and on executors."""

from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

import simulator

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
