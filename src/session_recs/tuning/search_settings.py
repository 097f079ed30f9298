"""A checked search, as typed settings: what to vary, how to search, where to run.

The project's one configuration mechanism (:class:`session_recs.core.config.Settings`) checks
every scalar setting; :mod:`session_recs.tuning.space` merges a preset's layers, parses the
space entries and builds these from ``params:tune`` and ``params:ray``;
:mod:`session_recs.tuning.runner` turns them into Ray objects and runs them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, get_args

from pydantic import ConfigDict, Field, field_validator, model_validator

from session_recs.core.config import OptionError, Settings
from session_recs.models.registry import SEARCHED_MODEL
from session_recs.models.searchable import SearchableOption

DOMAIN_KINDS = ("grid", "choice", "uniform", "loguniform", "int", "logint")
SearchAlgorithm = Literal["basic", "optuna"]
Scheduler = Literal["asha", "fifo"]
Metric = Literal["recall", "mrr"]
Context = Literal["last_item", "session"]
SEARCH_ALGORITHMS: tuple[SearchAlgorithm, ...] = get_args(SearchAlgorithm)
SCHEDULERS: tuple[Scheduler, ...] = get_args(Scheduler)
METRICS: tuple[Metric, ...] = get_args(Metric)
CONTEXTS: tuple[Context, ...] = get_args(Context)
#: The model a search trains when ``tune.model`` is not set: the FF19 comparison's
#: Word2Vec, whose best configuration the searched model trains.
LEGACY_MODEL = SEARCHED_MODEL
#: Options the search sets on every trial itself, so ``fixed`` may not.
MANAGED_OPTIONS = {
    "workers": "tune.cpus_per_trial",
    "seed": "tune.seed",
    "callbacks": "nothing (the trial adds its own)",
    "progress": "nothing (trials show no progress bar)",
}


@dataclass(frozen=True)
class Domain:
    """One search-space entry: a grid, a choice or a (log-)uniform / integer range."""

    kind: str
    values: tuple = ()
    low: float | None = None
    high: float | None = None
    step: float | None = None

    @property
    def is_grid(self) -> bool:
        return self.kind == "grid"

    @property
    def extent(self) -> tuple[float, float]:
        """Smallest and largest value the entry can produce."""
        if self.values:
            return min(self.values), max(self.values)
        return self._bounds()

    def _bounds(self) -> tuple[float, float]:
        """``low`` and ``high`` of a range (every entry without ``values`` has both)."""
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.kind} entry without values needs low and high")
        return self.low, self.high

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is one this entry can produce (for ``points_to_evaluate``)."""
        if self.values:
            return value in self.values
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind in ("int", "logint") and not isinstance(value, int):
            return False
        low, high = self._bounds()
        return low <= value <= high

    def to_ray(self) -> Any:
        """The Ray Tune search-space object."""
        from ray import tune

        if self.kind in ("grid", "choice"):
            values = list(self.values)
            return tune.grid_search(values) if self.kind == "grid" else tune.choice(values)
        low, high = self._bounds()
        step = self.step
        # Integer ranges have whole-number bounds and step (checked when parsed). Ray's
        # randint/lograndint exclude the upper bound; qrandint includes it.
        build = {
            "uniform": lambda: tune.quniform(low, high, step) if step else tune.uniform(low, high),
            "loguniform": lambda: tune.loguniform(low, high),
            "int": lambda: (
                tune.qrandint(int(low), int(high), int(step))
                if step
                else tune.randint(int(low), int(high) + 1)
            ),
            "logint": lambda: tune.lograndint(int(low), int(high) + 1),
        }
        return build[self.kind]()

    def describe(self) -> str:
        """Short human form, for logs."""
        if self.values:
            shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in self.values)
            return f"{self.kind}[{shown}]"
        step = f" step {self.step:g}" if self.step else ""
        return f"{self.kind}[{self.low:g}, {self.high:g}]{step}"


class SchedulerSettings(Settings):
    """Early stopping: ASHA on epochs, or none (``fifo``)."""

    section: ClassVar[str] = "tune.scheduler"

    kind: Scheduler = "asha"
    grace_period: int = Field(1, ge=1)
    reduction_factor: float = Field(3, gt=1)


class RaySettings(Settings):
    """Where trials run and results go; see ``ray`` in conf/base/parameters_tune.yml."""

    section: ClassVar[str] = "ray"

    address: str = "local"
    storage_path: str = Field("data/06_models/ray_tune", min_length=1)
    num_cpus: int | None = Field(None, ge=1)
    connect_timeout_s: float = Field(30.0, gt=0)
    ship_code: bool = False
    runtime_env: dict[str, Any] = Field(default_factory=dict)
    log_to_driver: bool = False
    include_dashboard: bool = False

    @field_validator("address")
    @classmethod
    def _address_form(cls, address: str) -> str:
        if not address.strip():
            raise ValueError(
                "expected `local`, `auto`, `env:<VARIABLE>`, `host:port` or `ray://host:port`"
            )
        if address.startswith("env:") and not address[4:]:
            raise ValueError("`env:` needs a variable name, e.g. env:RAY_ADDRESS")
        return address

    @property
    def is_local(self) -> bool:
        return self.address == "local"


class AutoBudget(Settings):
    """``time_budget_s: auto``: a wall-clock budget that follows the training data's size.

    ``seconds_per_1000_events`` x the training events / 1,000, kept within ``min_s`` and
    ``max_s``: a Word2Vec epoch costs time in proportion to the events, so the budget buys
    about the same number of trials whatever the dataset (RecSys15's 100,000-event sample
    gets 100 s, the demo's 47,000 events the 60 s floor; 3.6 million or more the ceiling).
    """

    section: ClassVar[str] = "tune.auto_budget"

    seconds_per_1000_events: float = Field(1.0, gt=0, allow_inf_nan=False)
    min_s: float = Field(60.0, gt=0, allow_inf_nan=False)
    max_s: float = Field(3600.0, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> AutoBudget:
        if self.min_s > self.max_s:
            raise OptionError(
                self.section, "min_s", self.min_s, f"at most tune.auto_budget.max_s={self.max_s:g}"
            )
        return self

    def seconds(self, events: int) -> float:
        """The budget for ``events`` training events."""
        return min(max(events / 1000 * self.seconds_per_1000_events, self.min_s), self.max_s)

    def describe(self, events: int) -> str:
        """How :meth:`seconds` came out, for the log."""
        return (
            f"auto: {events:,} training events x {self.seconds_per_1000_events:g} s per "
            f"1,000, within {self.min_s:,.0f}-{self.max_s:,.0f} s"
        )


#: What ``tune.time_budget_s`` takes, for its one-line error.
BUDGET_EXPECTED = (
    "expected a number of seconds greater than 0, auto (from the training events, see "
    "tune.auto_budget) or null (no time limit)"
)


class SearchSettings(Settings):
    """A checked search: what to vary, how to search, where to run, where to store.

    ``space`` holds :class:`Domain` entries parsed by :func:`session_recs.tuning.space.
    parse_domain`; the cross-setting rules (the epochs range within ``max_epochs``,
    Optuna without grids, open-ended sampling with a time budget, ASHA's grace period)
    are checked here with the rest.
    """

    section: ClassVar[str] = "tune"
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    preset: str
    model: str = LEGACY_MODEL
    kind: str = "word2vec"
    #: The option a scheduler may cut short (``epochs``); None: one-shot trials.
    resource: str | None = "epochs"
    #: What the kind lets a search vary (types and ranges, from the model's settings).
    searchable: dict[str, SearchableOption] = Field(default_factory=dict)
    context: Context = "session"
    #: Whether a query's own item may be recommended back (``evaluation.exclude_query``;
    #: ``auto`` is decided from the training sessions when the search starts).
    exclude_query: bool | Literal["auto"] = True
    search_alg: SearchAlgorithm = "optuna"
    num_samples: int = 10
    max_epochs: int = Field(20, ge=1)
    space: dict[str, Domain] = Field(default_factory=dict)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    fixed: dict[str, Any] = Field(default_factory=dict)
    points_to_evaluate: tuple[dict[str, Any], ...] = ()
    tpe: dict[str, Any] = Field(default_factory=dict)
    #: Seconds, ``auto`` (resolved by :meth:`for_data` once the training data is known)
    #: or None (no limit).
    time_budget_s: float | Literal["auto"] | None = None
    auto_budget: AutoBudget = Field(default_factory=AutoBudget)
    #: How many models the run searches: each gets this share of the budget.
    share: int = Field(1, ge=1)
    metric: Metric = "recall"
    k: int = Field(10, ge=1)
    cpus_per_trial: int = Field(1, ge=1)
    max_concurrent_trials: int | None = Field(None, ge=1)
    max_failures: int = Field(2, ge=0)
    reuse_actors: bool = True
    seed: int = Field(0, ge=0)
    smoke: bool = False
    resume: bool = False
    name: str | None = None
    ray: RaySettings = Field(default_factory=RaySettings)

    @field_validator("num_samples")
    @classmethod
    def _samples(cls, num_samples: int) -> int:
        if num_samples != -1 and num_samples < 1:
            raise ValueError("expected a whole number >= 1, or -1 (keep sampling until the budget)")
        return num_samples

    @field_validator("time_budget_s", mode="before")
    @classmethod
    def _budget(cls, budget: Any) -> Any:
        if budget is None or budget == "auto":
            return budget
        if (
            isinstance(budget, bool)
            or not isinstance(budget, int | float)
            or not math.isfinite(budget)
            or budget <= 0
        ):
            raise ValueError(BUDGET_EXPECTED)
        return float(budget)

    @field_validator("name")
    @classmethod
    def _folder_name(cls, name: str | None) -> str | None:
        if name is not None and "/" in name:
            raise ValueError("expected a folder name without '/'")
        return name

    @model_validator(mode="after")
    def _consistent(self) -> SearchSettings:
        if self.resource is None and self.scheduler.kind == "asha":
            raise OptionError(
                "tune.scheduler",
                "kind",
                "asha",
                f"fifo: {self.model} ({self.kind}) trains in one shot, with no epochs for ASHA "
                "to cut short",
            )
        if (
            self.resource is not None
            and "epochs" in self.space
            and self.space["epochs"].extent[1] > self.max_epochs
        ):
            raise OptionError(
                "tune.space",
                "epochs",
                self.space["epochs"].describe(),
                f"at most tune.max_epochs={self.max_epochs}: raise max_epochs or narrow the range",
            )
        grids = [name for name, domain in self.space.items() if domain.is_grid]
        if self.search_alg == "optuna" and grids:
            raise OptionError(
                "tune",
                "search_alg",
                "optuna",
                f"optuna samples the space and cannot enumerate grids ({', '.join(grids)}); "
                "use choice/int/uniform entries, or search_alg: basic",
            )
        if self.num_samples == -1 and (self.time_budget_s is None or grids):
            raise OptionError(
                "tune", "num_samples", -1, "keep sampling needs tune.time_budget_s and no grids"
            )
        grace = self.scheduler.grace_period
        if self.scheduler.kind == "asha" and grace > self.max_epochs:
            raise OptionError(
                "tune.scheduler",
                "grace_period",
                grace,
                f"a whole number of epochs from 1 to tune.max_epochs={self.max_epochs}",
            )
        return self

    @property
    def metric_name(self) -> str:
        """The reported metric the search maximises, e.g. ``val_recall_at_10``."""
        return metric_key(self.metric, self.k)

    @property
    def grid_size(self) -> int:
        """Trials per sample of the grid entries (1 without grids)."""
        return math.prod(len(d.values) for d in self.space.values() if d.is_grid)

    @property
    def n_trials(self) -> int | None:
        """Trials the search will run if not stopped by its time budget (None: unbounded)."""
        return None if self.num_samples < 0 else self.grid_size * self.num_samples

    def for_data(self, events: int) -> SearchSettings:
        """These settings with an ``auto`` budget turned into seconds for ``events``
        training events (this search's share of them)."""
        if self.time_budget_s != "auto":
            return self
        return self.model_copy(
            update={"time_budget_s": self.auto_budget.seconds(events) / self.share}
        )

    @property
    def budget_seconds(self) -> float | None:
        """The budget in seconds (None: no limit); only after :meth:`for_data`."""
        if self.time_budget_s == "auto":
            raise ValueError("an auto time budget is only known once the data is: for_data()")
        return self.time_budget_s

    def experiment_name(self, dataset: str) -> str:
        """Stem of the experiment folders under the storage path."""
        if self.name:
            return self.name
        model = "w2v" if self.model == LEGACY_MODEL else self.model
        return f"{model}_{dataset}_{self.preset}" + ("_smoke" if self.smoke else "")

    def describe(self) -> str:
        """One line for the log."""
        space = ", ".join(f"{name} {d.describe()}" for name, d in self.space.items())
        trials = "unbounded" if self.n_trials is None else f"{self.n_trials:,}"
        seconds = self.time_budget_s
        budget = (
            ""
            if seconds is None
            else f", budget {seconds} (tune.auto_budget)"
            if isinstance(seconds, str)
            else f", budget {seconds:g}s"
        )
        length = f"up to {self.max_epochs} {self.resource}" if self.resource else "one-shot trials"
        return (
            f"{self.model} ({self.kind}), preset {self.preset!r}"
            f"{' (smoke)' if self.smoke else ''}: {self.search_alg} search, "
            f"{self.scheduler.kind} scheduler, {trials} trials, {length}{budget}; space: "
            f"{space or 'none'}; maximising {self.metric_name} ({self.context} context)"
        )


def metric_key(metric: str, k: int) -> str:
    """Name of a validation metric in trial reports (a name MLflow accepts too)."""
    return f"val_{metric}_at_{k}"
