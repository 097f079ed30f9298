"""Synthetic UCI Online Retail transactions with planted sequential structure.

The table has exactly the Online Retail columns and dtypes (those
:func:`~session_recs.data.readers.read_online_retail` returns), rows in
the real file's order (by ``InvoiceDate`` then invoice number, each invoice's rows
contiguous), so every reader and pipeline built for the real file runs on it unchanged.
It serves as the offline demo data and, at millions of rows, as a scale benchmark.
(Over 400 lines: one generator, whose planted structures below each need their own
vectorised step; the catalogue it draws from is :mod:`session_recs.data.synthetic_catalog`.)

Planted structure, so that a recommender has something real to learn:

- **Product lines.** Items are split into ``n_groups`` groups of consecutive catalog
  positions; each group has a cyclic order (the last item's successor is the first).
  Items of a group share a description theme ("RED RETROSPOT ...").
- **Zipf popularity.** Groups and, inside a group, items are drawn with probability
  proportional to ``rank ** -zipf_exponent``; the popularity ranks are shuffled, so
  an item's successor is not simply the next most popular item.
- **Drifting interest.** Each customer has a sequence of invoices in time order and a
  current group per invoice: the first is a Zipf draw; before each later invoice the
  group moves to a neighbour (group ± 1 mod ``n_groups``) with probability
  ``P_NEIGHBOUR``, jumps to a fresh Zipf draw with probability ``P_JUMP``, else stays.
- **Sequences within a basket.** An invoice's first item is a fresh draw; each next
  item is, with probability ``p_sequential``, the successor of the previous item in
  its group's cyclic order, otherwise a fresh Zipf draw from the invoice's group (from
  any group with probability ``P_ANY_GROUP``).
- **Repeat purchases.** With probability ``p_repeat`` an event (after the customer's
  first invoice) repeats an item from one of the customer's earlier invoices; the
  events after it continue the successor chain from the repeated item.
- **Cancellations.** About a ``p_cancel`` share of rows (fewer, as a customer's first
  basket has nothing to cancel) are cancellations: short runs of rows (1.75 on
  average) split off into their own "C"-prefixed invoice, each repeating an item from
  the customer's earlier invoices with that purchase's quantity negated.
- **Heavy-tailed customers.** Events per customer are 1 + a multinomial share with
  lognormal weights; basket sizes are geometric with a lognormal per-customer mean.
- **File noise.** Whole invoices are guest checkouts (``CustomerID`` NaN) with
  probability ``p_guest``; ~0.4% of rows carry a non-product code (POST, DOT, M,
  BANK CHARGES) and ~0.3% a missing ``Description``.

Invoice timestamps are minutes in trading hours (08:00-20:00, no Saturdays, closed
24 Dec 2010 - 3 Jan 2011, as in the real file) between 2010-12-01 08:00 and
2011-12-09 13:00. Invoice numbers count up from 536365 in time order and grow past
six digits beyond ~463,000 invoices (about 5 million rows).

Everything is vectorised: per-event and per-invoice numpy arrays, segment offsets by
cumulative sums, "index of the last anchor" by ``np.maximum.accumulate``, and repeat
chains resolved by pointer doubling (a few passes, not a loop over events).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ConfigDict, Field, model_validator

from session_recs.core.config import OptionError, Settings
from session_recs.data.readers import INVOICE_DATE_DTYPE, ONLINE_RETAIL_COLUMNS
from session_recs.data.synthetic_catalog import (
    MAX_ITEMS,
    NON_PRODUCTS,
    Catalog,
    build_catalog,
    draw_in_groups,
)

# Exactly the reference table's columns and InvoiceDate unit, so readers see no difference.
COLUMNS = ONLINE_RETAIL_COLUMNS

DEMO_SEED: int = 42
# 60k rows: ~1,000 customers (the demo split presets assume this), about 0.45 MB of Parquet.
DEMO_N_EVENTS: int = 60_000
DEMO_N_ITEMS: int = 1_200

#: Items per product line when the number of lines follows the catalogue (the demo: 1,200
#: items in 60 lines).
ITEMS_PER_GROUP = 20
FIRST_INVOICE = 536_365
FIRST_CUSTOMER_ID = 12_346

# Group drift between a customer's consecutive invoices.
P_NEIGHBOUR = 0.3
P_JUMP = 0.05
# A fresh draw ignores the invoice's group this often: baskets are not perfectly themed.
P_ANY_GROUP = 0.05
P_NON_PRODUCT = 0.004
P_MISSING_DESCRIPTION = 0.003
# Cancellation runs: a seed row, extended to the next row(s) with this probability each.
P_CANCEL_EXTEND = 0.5
CANCEL_RUN_MEAN = 1 + P_CANCEL_EXTEND + P_CANCEL_EXTEND**2
# Customer weights and basket sizes: lognormal spreads giving a heavy tail.
CUSTOMER_SIGMA = 1.2
BASKET_MEDIAN = 20.0
BASKET_SIGMA = 0.6

PACK_SIZES = np.array([1, 2, 3, 4, 6, 8, 10, 12, 24, 48], dtype=np.int64)
PACK_SHARES = np.array([0.25, 0.15, 0.08, 0.07, 0.12, 0.04, 0.05, 0.17, 0.05, 0.02])
COUNTRIES = np.array(
    [
        "United Kingdom",
        "Germany",
        "France",
        "EIRE",
        "Spain",
        "Netherlands",
        "Belgium",
        "Switzerland",
        "Portugal",
        "Australia",
        "Norway",
        "Italy",
    ]
)
COUNTRY_SHARES = np.array(
    [0.89, 0.02, 0.02, 0.01, 0.01, 0.01, 0.01, 0.01, 0.005, 0.005, 0.005, 0.005]
)

# Trading calendar of the real file: no Saturdays, closed over Christmas 2010.
OPENING = np.timedelta64(8, "h")
DAY_MINUTES = 12 * 60
LAST_DAY_MINUTES = 5 * 60
FIRST_DAY = np.datetime64("2010-12-01")
LAST_DAY = np.datetime64("2011-12-09")
CLOSED = (np.datetime64("2010-12-24"), np.datetime64("2011-01-03"))


def _segment_starts(flags: np.ndarray) -> np.ndarray:
    """For each position, the index of the latest True flag at or before it."""
    return np.maximum.accumulate(np.where(flags, np.arange(flags.size), 0))


def _invoice_groups(
    rng: np.random.Generator, first_of_customer: np.ndarray, catalog: Catalog
) -> np.ndarray:
    """Each invoice's group: a Zipf draw at a customer's start or a jump, else a ±1 walk."""
    n_groups = catalog.group_p.size
    u = rng.random(first_of_customer.size)
    jump = first_of_customer | (u < P_JUMP)
    step = np.select(
        [jump, u < P_JUMP + P_NEIGHBOUR / 2, u < P_JUMP + P_NEIGHBOUR], [0, -1, 1], default=0
    )
    landing = rng.choice(n_groups, size=u.size, p=catalog.group_p)
    walk = np.cumsum(step)
    since = _segment_starts(jump)
    return (landing[since] + walk - walk[since]) % n_groups


def _invoice_minutes(rng: np.random.Generator, invoice_customer: np.ndarray) -> np.ndarray:
    """Trading-hour timestamps per invoice, ascending within each customer."""
    days = np.arange(FIRST_DAY, LAST_DAY + 1)
    saturday = (days.astype(np.int64) + 3) % 7 == 5  # 1970-01-01 was a Thursday
    closed = (days >= CLOSED[0]) & (days <= CLOSED[1])
    days = days[~saturday & ~closed]
    span = (days.size - 1) * DAY_MINUTES + LAST_DAY_MINUTES
    minute = rng.integers(0, span, invoice_customer.size)
    # Invoices are grouped by customer, so sorting by (customer, minute) only reorders
    # minutes within each customer's block.
    minute = minute[np.lexsort((minute, invoice_customer))]
    stamp = days[minute // DAY_MINUTES].astype(INVOICE_DATE_DTYPE) + OPENING
    return stamp + (minute % DAY_MINUTES).astype("timedelta64[m]")


def _resolve_items(
    parent: np.ndarray, steps: np.ndarray, seed_item: np.ndarray, catalog: Catalog
) -> np.ndarray:
    """Item of each event = ``steps`` successors of the item at its root ``parent``.

    Roots point to themselves with zero steps. Pointer doubling halves every chain per
    pass, so a few whole-array passes resolve repeats of repeats.
    """
    while True:
        grand = parent[parent]
        if np.array_equal(grand, parent):
            break
        steps = steps + steps[parent]
        parent = grand
    root = seed_item[parent]
    group = catalog.group_of_item[root]
    lo = catalog.group_lo[group]
    return lo + (root - lo + steps) % (catalog.group_lo[group + 1] - lo)


@dataclass(frozen=True)
class _Baskets:
    """Rows in generation order: customer by customer, invoice by invoice."""

    customer_lo: np.ndarray  # first row of each customer
    invoice: np.ndarray  # invoice of each row
    invoice_lo: np.ndarray  # first row of each invoice
    invoice_customer: np.ndarray
    cancel: np.ndarray  # the row is a cancellation


def _baskets(
    rng: np.random.Generator, n_events: int, n_customers: int, p_cancel: float
) -> _Baskets:
    """Split ``n_events`` rows into customers, baskets and short cancellation invoices."""
    # Every customer gets a row; the rest go by heavy-tailed weights.
    weight = rng.lognormal(0.0, CUSTOMER_SIGMA, n_customers)
    counts = 1 + rng.multinomial(n_events - n_customers, weight / weight.sum())
    customer = np.repeat(np.arange(n_customers), counts)
    customer_lo = np.concatenate(([0], np.cumsum(counts)[:-1]))

    # Baskets: geometric sizes with a per-customer mean.
    basket_mean = 1 + rng.lognormal(np.log(BASKET_MEDIAN), BASKET_SIGMA, n_customers)
    start = rng.random(n_events) < (1 / basket_mean)[customer]
    start[customer_lo] = True

    # Cancellations need an earlier basket of the same customer to cancel from.
    basket = np.cumsum(start)
    later_basket = basket > basket[customer_lo][customer]
    seed_row = rng.random(n_events) < p_cancel / CANCEL_RUN_MEAN
    extend = rng.random(n_events) < P_CANCEL_EXTEND
    cancel = seed_row.copy()
    cancel[1:] |= seed_row[:-1] & extend[1:]
    cancel[2:] |= seed_row[:-2] & extend[1:-1] & extend[2:]
    cancel &= later_basket
    # A run of cancelled rows becomes its own invoice.
    start[1:] |= cancel[1:] != cancel[:-1]
    invoice_lo = np.flatnonzero(start)
    return _Baskets(
        customer_lo=customer_lo,
        invoice=np.cumsum(start) - 1,
        invoice_lo=invoice_lo,
        invoice_customer=customer[invoice_lo],
        cancel=cancel,
    )


def _items(
    rng: np.random.Generator,
    baskets: _Baskets,
    catalog: Catalog,
    p_sequential: float,
    p_repeat: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Item of every row, and the row each cancelled row copies (in row order)."""
    invoice, invoice_lo, cancel = baskets.invoice, baskets.invoice_lo, baskets.cancel
    n_events = invoice.size
    customer_lo = baskets.customer_lo[baskets.invoice_customer]  # per invoice
    first_invoice = invoice_lo == customer_lo
    invoice_group = _invoice_groups(rng, first_invoice, catalog)

    # Repeats (and every cancelled row) copy an item from the customer's earlier invoices.
    copies = cancel | (~first_invoice[invoice] & (rng.random(n_events) < p_repeat))
    copy_rows = np.flatnonzero(copies)
    history_lo = customer_lo[invoice[copy_rows]]
    history_hi = invoice_lo[invoice[copy_rows]]
    source = history_lo + (rng.random(copy_rows.size) * (history_hi - history_lo)).astype(np.int64)

    # Successor chains restart at every invoice start, fresh draw and copy.
    anchor = (rng.random(n_events) >= p_sequential) | copies
    anchor[invoice_lo] = True
    parent = _segment_starts(anchor)
    steps = np.arange(n_events) - parent
    parent[copy_rows] = source
    fresh_rows = np.flatnonzero(anchor & ~copies)
    del anchor, copies
    groups = invoice_group[invoice[fresh_rows]]
    anywhere = rng.random(fresh_rows.size) < P_ANY_GROUP
    groups[anywhere] = rng.choice(catalog.group_p.size, size=int(anywhere.sum()), p=catalog.group_p)
    seed_item = np.zeros(n_events, dtype=np.int64)
    seed_item[fresh_rows] = draw_in_groups(rng, groups, catalog)
    item = _resolve_items(parent, steps, seed_item, catalog)
    return item, source[cancel[copy_rows]]


def _file_order(
    invoice_time: np.ndarray, invoice: np.ndarray, invoice_lo: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Row permutation into file order, and each invoice's number (counting up in time order).

    Invoices go by time, ties by generation order; an invoice's rows stay together and
    in order, so positions come from offsets rather than a sort over rows.
    """
    n_events, n_invoices = invoice.size, invoice_lo.size
    by_time = np.argsort(invoice_time, kind="stable")
    number = np.empty(n_invoices, dtype=np.int64)
    number[by_time] = FIRST_INVOICE + np.arange(n_invoices)
    size = np.diff(np.append(invoice_lo, n_events))
    new_lo = np.empty(n_invoices, dtype=np.int64)
    new_lo[by_time] = np.cumsum(size[by_time]) - size[by_time]
    index = np.arange(n_events)
    order = np.empty(n_events, dtype=np.int64)
    order[new_lo[invoice] + index - invoice_lo[invoice]] = index
    return order, number


class GeneratorConfig(Settings):
    """The generator's arguments, checked strictly (``"42"`` is not a seed)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    n_events: int = Field(ge=1)
    n_items: int = Field(ge=1, le=MAX_ITEMS)
    n_groups: int = Field(ge=1)
    n_customers: int = Field(ge=1)
    seed: int = Field(ge=0)
    p_sequential: float = Field(ge=0, le=1, allow_inf_nan=False)
    p_repeat: float = Field(ge=0, le=1, allow_inf_nan=False)
    p_guest: float = Field(ge=0, le=1, allow_inf_nan=False)
    p_cancel: float = Field(ge=0, le=1, allow_inf_nan=False)
    zipf_exponent: float = Field(ge=0, le=10, allow_inf_nan=False)

    @model_validator(mode="after")
    def _fits(self) -> GeneratorConfig:
        if self.n_groups > self.n_items:
            raise OptionError("", "n_groups", self.n_groups, f"at most n_items ({self.n_items})")
        if self.n_customers > self.n_events:
            raise OptionError(
                "", "n_customers", self.n_customers, f"at most n_events ({self.n_events})"
            )
        return self


def generate_transactions(
    n_events: int = 60_000,
    *,
    n_items: int = DEMO_N_ITEMS,
    n_groups: int | None = None,
    n_customers: int | None = None,
    seed: int = 42,
    p_sequential: float = 0.6,
    p_repeat: float = 0.1,
    p_guest: float = 0.2,
    p_cancel: float = 0.02,
    zipf_exponent: float = 1.1,
) -> pd.DataFrame:
    """Online-Retail-schema transactions with the structure in the module docstring.

    ``n_events`` rows exactly (the contract is ±5%), ``n_customers`` defaulting to
    ``n_events // 60`` and ``n_groups`` to ``n_items // 20`` (product lines of 20 items);
    the same arguments always give the same table.
    """
    if n_customers is None and isinstance(n_events, int) and not isinstance(n_events, bool):
        n_customers = max(1, n_events // 60)
    if n_groups is None and isinstance(n_items, int) and not isinstance(n_items, bool):
        n_groups = max(1, n_items // ITEMS_PER_GROUP)
    # As given (the defaults above only when the sizes they follow are whole numbers): the
    # config checks every argument and names the first bad one.
    arguments: dict[str, Any] = dict(
        n_events=n_events,
        n_items=n_items,
        n_groups=n_groups,
        n_customers=n_customers,
        seed=seed,
        p_sequential=p_sequential,
        p_repeat=p_repeat,
        p_guest=p_guest,
        p_cancel=p_cancel,
        zipf_exponent=zipf_exponent,
    )
    config = GeneratorConfig(**arguments)
    n_events, n_items, n_groups, n_customers = (
        config.n_events,
        config.n_items,
        config.n_groups,
        config.n_customers,
    )
    rng = np.random.default_rng(seed)
    catalog = build_catalog(rng, n_items, n_groups, float(zipf_exponent))
    baskets = _baskets(rng, n_events, n_customers, p_cancel)
    item, cancel_source = _items(rng, baskets, catalog, p_sequential, p_repeat)
    cancel = baskets.cancel

    # A cancelled row takes back the quantity of the purchase it copies.
    quantity = PACK_SIZES[rng.choice(PACK_SIZES.size, size=n_events, p=PACK_SHARES)]
    quantity[cancel] = -quantity[cancel_source]
    non_product = rng.random(n_events) < P_NON_PRODUCT
    item[non_product] = n_items + rng.choice(
        len(NON_PRODUCTS), size=int(non_product.sum()), p=NON_PRODUCTS["share"].to_numpy()
    )
    quantity[non_product] = np.sign(quantity[non_product])
    description_code = np.where(rng.random(n_events) < P_MISSING_DESCRIPTION, -1, item)

    # Per-customer and per-invoice attributes.
    customer_ids = FIRST_CUSTOMER_ID + np.sort(
        rng.choice(int(n_customers * 1.36) + 1, size=n_customers, replace=False)
    )
    country = rng.choice(COUNTRIES.size, size=n_customers, p=COUNTRY_SHARES / COUNTRY_SHARES.sum())
    invoice_customer = baskets.invoice_customer
    invoice_time = _invoice_minutes(rng, invoice_customer)
    guest = rng.random(invoice_customer.size) < p_guest
    invoice_customer_id = np.where(guest, np.nan, customer_ids[invoice_customer].astype(np.float64))

    order, number = _file_order(invoice_time, baskets.invoice, baskets.invoice_lo)
    row_invoice = baskets.invoice[order]
    row_item = item[order]
    numbers = pd.Series(number, dtype="int64").astype("str")
    labels = numbers.where(~cancel[baskets.invoice_lo], "C" + numbers)
    return pd.DataFrame(
        {
            "InvoiceNo": labels.array.take(row_invoice),
            "StockCode": catalog.codes.array.take(row_item),
            "Description": catalog.descriptions.array.take(
                description_code[order], allow_fill=True
            ),
            "Quantity": quantity[order],
            "InvoiceDate": invoice_time[row_invoice],
            "UnitPrice": catalog.prices[row_item],
            "CustomerID": invoice_customer_id[row_invoice],
            "Country": pd.Series(COUNTRIES, dtype="str").array.take(
                country[invoice_customer[row_invoice]]
            ),
        },
        columns=list(COLUMNS),
    )


def write_transactions(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` to Parquet atomically (a hidden sibling, then a rename); return the path."""
    from session_recs.data.atomic import AtomicLocalFileSystem

    target = Path(path)
    with AtomicLocalFileSystem(auto_mkdir=True).open(str(target), "wb") as handle:
        df.to_parquet(handle, index=False)
    return target


def write_demo(path: str | Path) -> Path:
    """Generate the committed demo table (``DEMO_N_EVENTS`` rows, ``DEMO_SEED``) and write it."""
    return write_transactions(generate_transactions(DEMO_N_EVENTS, seed=DEMO_SEED), path)
