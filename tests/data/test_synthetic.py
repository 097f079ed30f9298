"""The synthetic Online Retail generator: schema, file order, planted structure, demo file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from session_recs.core.errors import ConfigError
from session_recs.data import synthetic
from session_recs.data.readers import read_online_retail
from session_recs.data.synthetic import generate_transactions, write_demo, write_transactions

from .conftest import RETAIL_DTYPES

NON_PRODUCT_CODES = {"POST", "DOT", "M", "BANK CHARGES"}


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """The default-sized table, generated once for the whole module."""
    return generate_transactions(60_000, seed=7)


def successor_share(frame: pd.DataFrame) -> float:
    """Share of within-invoice pairs whose next item is the previous item's top successor."""
    following = frame.groupby("InvoiceNo", sort=False)["StockCode"].shift(-1)
    pairs = pd.DataFrame({"prev": frame["StockCode"], "next": following}).dropna()
    top = pairs.value_counts().groupby(level="prev").max()
    return top.sum() / len(pairs)


def test_columns_and_dtypes_are_exactly_online_retail(table):
    assert list(table.columns) == list(RETAIL_DTYPES)
    assert table.dtypes.astype(str).to_dict() == RETAIL_DTYPES
    assert table.index.equals(pd.RangeIndex(len(table)))


def test_same_seed_same_table_other_seed_other_table():
    first = generate_transactions(5_000, seed=3)
    pd.testing.assert_frame_equal(first, generate_transactions(5_000, seed=3))
    other = generate_transactions(5_000, seed=4)
    assert not first.equals(other)
    assert (first["StockCode"] != other["StockCode"]).mean() > 0.5


@pytest.mark.parametrize("n_events", [1, 7, 999, 20_000])
def test_row_count_within_five_percent(n_events):
    rows = len(generate_transactions(n_events, seed=1))
    assert abs(rows - n_events) <= 0.05 * n_events


def test_rows_are_in_file_order(table):
    dates = table["InvoiceDate"]
    assert dates.is_monotonic_increasing
    number = table["InvoiceNo"].str.removeprefix("C").astype("int64")
    assert number.is_monotonic_increasing
    # Contiguous invoices numbered 536365, 536366, ... in time order.
    runs = number[number.ne(number.shift())]
    assert runs.tolist() == list(range(536_365, 536_365 + len(runs)))
    assert table["InvoiceNo"].nunique() == len(runs)
    per_invoice = table.groupby("InvoiceNo").agg(
        dates=("InvoiceDate", "nunique"),
        customers=("CustomerID", lambda ids: ids.nunique(dropna=False)),
        countries=("Country", "nunique"),
    )
    assert (per_invoice == 1).all().all()


def test_timestamps_fall_in_trading_hours(table):
    dates = table["InvoiceDate"]
    assert dates.min() >= pd.Timestamp("2010-12-01 08:00")
    assert dates.max() <= pd.Timestamp("2011-12-09 13:00")
    assert dates.dt.hour.between(8, 19).all()
    assert not (dates.dt.day_of_week == 5).any()  # no Saturdays, as in the real file
    christmas = dates.between(pd.Timestamp("2010-12-24"), pd.Timestamp("2011-01-04"))
    assert not christmas.any()
    # A year of trading: every month is represented.
    assert dates.dt.to_period("M").nunique() == 13


def test_cancellations_are_prefixed_negative_and_rebuy_earlier_items():
    # No guests, so every earlier purchase is attributed to its customer.
    table = generate_transactions(60_000, seed=7, p_guest=0.0)
    cancelled = table["InvoiceNo"].str.startswith("C")
    assert cancelled.eq(table["Quantity"] < 0).all()
    assert (table["Quantity"] != 0).all()
    assert 0.005 < cancelled.mean() < 0.03
    # Cancellation invoices are short, as in the real file.
    assert table[cancelled].groupby("InvoiceNo").size().mean() < 3
    # Every cancelled product was bought by the same customer at an earlier time (bar the
    # few whose purchase row became a non-product code).
    known = table
    bought = known[~known["InvoiceNo"].str.startswith("C")]
    first_buy = bought.groupby(["CustomerID", "StockCode"])["InvoiceDate"].min()
    returns = known[known["InvoiceNo"].str.startswith("C")]
    returns = returns[~returns["StockCode"].isin(NON_PRODUCT_CODES)]
    when = first_buy.reindex(pd.MultiIndex.from_frame(returns[["CustomerID", "StockCode"]]))
    assert when.notna().mean() > 0.99
    assert (when.dropna().to_numpy() <= returns["InvoiceDate"].to_numpy()[when.notna()]).all()


def test_guests_are_whole_invoices_near_p_guest():
    frame = generate_transactions(40_000, seed=11, p_guest=0.3)
    guest = frame["CustomerID"].isna()
    assert abs(guest.mean() - 0.3) < 0.04
    ids = frame.loc[~guest, "CustomerID"]
    assert (ids >= 12_346).all()
    assert (ids % 1 == 0).all()
    assert frame.loc[~guest].groupby("CustomerID")["Country"].nunique().max() == 1
    assert generate_transactions(5_000, seed=11, p_guest=0.0)["CustomerID"].notna().all()


def test_popularity_is_zipf_like(table):
    counts = table["StockCode"].value_counts()
    top = counts.iloc[: len(counts) // 10].sum() / counts.sum()
    assert top > 0.35
    flat = generate_transactions(60_000, seed=7, zipf_exponent=0.0)["StockCode"].value_counts()
    assert flat.iloc[: len(flat) // 10].sum() / flat.sum() < top


def test_planted_successors_beat_a_shuffled_copy(table):
    planted = successor_share(table)
    rng = np.random.default_rng(0)
    shuffled = table.assign(StockCode=rng.permutation(table["StockCode"].to_numpy()))
    baseline = successor_share(shuffled)
    assert planted > 0.4
    assert planted > 3 * baseline


def test_p_sequential_controls_the_successor_signal():
    chained = successor_share(generate_transactions(20_000, seed=5, p_sequential=0.9))
    unchained = successor_share(generate_transactions(20_000, seed=5, p_sequential=0.0))
    assert chained > 0.7
    assert chained > 2 * unchained


def test_repeats_follow_p_repeat():
    def rebought(frame: pd.DataFrame) -> float:
        """Share of a customer's rows whose item appeared in that customer's earlier rows."""
        known = frame[frame["CustomerID"].notna() & (frame["Quantity"] > 0)]
        return known.duplicated(["CustomerID", "StockCode"]).mean()

    # Zipf popularity and drifting groups already make customers re-buy (~56% of rows
    # here); p_repeat adds deliberate repeats on top of that.
    never, some, often = (
        rebought(generate_transactions(30_000, seed=9, p_repeat=p)) for p in (0.0, 0.1, 0.5)
    )
    assert never < some < often
    assert often > never + 0.08


def test_each_stock_code_has_one_description_and_price(table):
    per_code = table.groupby("StockCode").agg(
        descriptions=("Description", "nunique"), prices=("UnitPrice", "nunique")
    )
    assert (per_code["descriptions"] <= 1).all()
    assert (per_code["prices"] == 1).all()
    assert (table["UnitPrice"] > 0).all()
    assert 0.001 < table["Description"].isna().mean() < 0.006
    products = table[~table["StockCode"].isin(NON_PRODUCT_CODES)]
    assert products["StockCode"].str.fullmatch(r"\d{5}[A-Z]?").all()
    assert products["Description"].dropna().str.fullmatch(r"[A-Z][A-Z -]+").all()
    rare = table["StockCode"].isin(NON_PRODUCT_CODES).mean()
    assert 0.001 < rare < 0.01


def test_demo_file_is_small_and_round_trips(tmp_path):
    path = write_demo(tmp_path / "raw" / "demo.parquet")
    assert path == tmp_path / "raw" / "demo.parquet"
    assert path.stat().st_size < 2_000_000
    assert list(path.parent.iterdir()) == [path]  # no temp file left behind
    expected = generate_transactions(synthetic.DEMO_N_EVENTS, seed=synthetic.DEMO_SEED)
    assert 50_000 <= len(expected) <= 80_000
    pd.testing.assert_frame_equal(pd.read_parquet(path), expected)
    # The project's reader sees exactly the generated table.
    pd.testing.assert_frame_equal(read_online_retail(path), expected)


def test_failed_write_keeps_the_old_file_and_leaves_no_partial_file(tmp_path, monkeypatch):
    path = write_transactions(generate_transactions(100, seed=2), tmp_path / "t.parquet")
    before = path.read_bytes()

    def crash_midway(self, handle, **kwargs):
        handle.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        write_transactions(generate_transactions(200, seed=3), path)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"n_events": 0}, "n_events"),
        ({"n_events": 2.5}, "n_events"),
        ({"n_events": True}, "n_events"),
        ({"n_items": 0}, "n_items"),
        ({"n_items": 10_000_000}, "n_items"),
        ({"n_groups": 0}, "n_groups"),
        ({"n_items": 10, "n_groups": 11}, "n_groups"),
        ({"n_customers": 0}, "n_customers"),
        ({"n_events": 10, "n_customers": 11}, "n_customers"),
        ({"seed": -1}, "seed"),
        ({"seed": "42"}, "seed"),
        ({"p_sequential": 1.5}, "p_sequential"),
        ({"p_repeat": -0.1}, "p_repeat"),
        ({"p_guest": float("nan")}, "p_guest"),
        ({"p_cancel": "0.1"}, "p_cancel"),
        ({"zipf_exponent": -1.0}, "zipf_exponent"),
    ],
)
def test_bad_parameters_raise_config_error_naming_them(kwargs, parameter):
    with pytest.raises(ConfigError, match=parameter):
        generate_transactions(**{"n_events": 100, **kwargs})


def test_config_error_message_says_what_was_expected():
    with pytest.raises(ConfigError, match=r"n_events = 0: expected greater than or equal to 1"):
        generate_transactions(0)


def test_extreme_but_valid_parameters_work():
    frame = generate_transactions(
        500,
        n_items=1,
        n_groups=1,
        n_customers=500,
        p_sequential=1.0,
        p_repeat=1.0,
        p_guest=1.0,
        p_cancel=1.0,
        zipf_exponent=0.0,
    )
    assert len(frame) == 500
    assert frame["CustomerID"].isna().all()


def test_a_large_catalogue_gets_distinct_codes_and_zipf_popularity():
    """``make-demo --items N``: N items beyond the five-digit codes, popularity heavy-tailed
    (the log-log slope of count against rank is Zipf-like)."""
    table = generate_transactions(300_000, n_items=100_000, seed=1)
    codes = table["StockCode"]
    product = codes.str.fullmatch(r"\d{7}[A-E]?")
    assert (product | codes.isin(["POST", "DOT", "M", "BANK CHARGES"])).all()
    counts = codes[product].value_counts().to_numpy()
    assert 20_000 < len(counts) <= 100_000
    ranks = np.arange(1, len(counts) + 1)
    middle = (ranks >= 10) & (ranks <= 3_000)
    slope = np.polyfit(np.log(ranks[middle]), np.log(counts[middle]), 1)[0]
    assert -1.3 < slope < -0.6, slope
    assert counts[0] > 50 * np.median(counts)
