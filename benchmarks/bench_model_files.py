"""Model files against pickles: file size, save and load time of every baseline model.

Each model namespace of the baseline pipeline (and ``word2vec_ff19_default``), with its
options from conf/base, is fitted on the demo data's split as the pipelines make it, then
saved in the project's model format (:mod:`session_recs.models.state`: a zip of
``state.json`` and ``.npy`` arrays, read without pickle) and as a pickle (what the catalog
saved before), both to files in a temporary folder. Load times are the median of
``--repeats`` loads from the (cached) file; ``same`` checks that the loaded model's
top-10 for the test queries equals the fitted one's.

Usage: python benchmarks/bench_model_files.py [--data data/01_raw/demo_online_retail.parquet]
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message="register_new_resolver")

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "01_raw" / "demo_online_retail.parquet"


def prepare(path: Path):
    """The demo dataset's split, as the pipelines make it."""
    from session_recs.framework.datasets import OnlineRetailDataset
    from session_recs.framework.project import load_parameters, prepare_split

    params = load_parameters(ROOT / "conf", "demo")
    raw = OnlineRetailDataset(filepath=str(path)).load()
    return params, prepare_split(raw, params)


def timed(load, repeats: int) -> float:
    """Median seconds of ``repeats`` calls of ``load``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        load()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEMO)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)

    from session_recs.evaluation.next_event import pair_set
    from session_recs.models.state import read_model, write_model
    from session_recs.pipelines.modeling import fit_recommender
    from session_recs.pipelines.namespaces import BASELINE_MODELS

    params, (train, validation, test_pairs, test_sessions) = prepare(args.data)
    print(f"{args.data.name}: {len(train):,} training events, {len(test_pairs):,} test pairs")
    header = (
        f"{'model':<24} {'npz KB':>9} {'pkl KB':>9} {'size':>6} {'save ms':>8} "
        f"{'npz load ms':>12} {'pkl load ms':>12} {'load':>6}  same"
    )
    print(header)
    print("-" * len(header))
    folder = Path(tempfile.mkdtemp(prefix="bench_model_files_"))
    for name in (*BASELINE_MODELS, "word2vec_ff19_default"):
        spec = dict(params[name]["model"])
        if spec["kind"] == "word2vec":
            spec["options"] = {**spec.get("options", {}), "progress": False}
        model = fit_recommender(train, validation, spec)
        npz, pkl = folder / f"{name}.npz", folder / f"{name}.pkl"
        start = time.perf_counter()
        with open(npz, "wb") as file:
            write_model(model, file)
        save_ms = (time.perf_counter() - start) * 1000
        pkl.write_bytes(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))

        def load_npz(path: Path = npz):
            with open(path, "rb") as file:
                return read_model(file, str(path))

        def load_pkl(path: Path = pkl):
            return pickle.loads(path.read_bytes())

        npz_s, pkl_s = timed(load_npz, args.repeats), timed(load_pkl, args.repeats)
        queries = pair_set(test_pairs, model.index, test_sessions).queries
        same = (load_npz().recommend(queries, 10).items == model.recommend(queries, 10).items).all()
        npz_kb, pkl_kb = npz.stat().st_size / 1024, pkl.stat().st_size / 1024
        print(
            f"{name:<24} {npz_kb:>9,.0f} {pkl_kb:>9,.0f} {npz_kb / pkl_kb:>5.2f}x {save_ms:>8.1f} "
            f"{npz_s * 1000:>12.1f} {pkl_s * 1000:>12.1f} {npz_s / pkl_s:>5.2f}x  {same}"
        )
    print("size and load: the model format against pickle (1.00x = the same)")


if __name__ == "__main__":
    sys.exit(main())
