"""Conf files parsed once per process: a changed file is parsed again, a reader's changes
never reach the next reader."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from session_recs.framework import parsed_conf
from session_recs.framework.config_loader import ProjectConfigLoader
from session_recs.settings import CONFIG_LOADER_ARGS

from ..conftest import ROOT


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    return Path(shutil.copytree(ROOT / "conf", tmp_path / "conf"))


def loader(conf: Path, **runtime) -> ProjectConfigLoader:
    return ProjectConfigLoader(
        str(conf), env="local", runtime_params=runtime or None, **CONFIG_LOADER_ARGS
    )


def parse_counter(monkeypatch) -> list[str]:
    """The folders Kedro's own reading parses, in order."""
    parsed: list[str] = []
    original = parsed_conf.read_folder

    def counting(folder, patterns, key, processed_files, read):
        def counted(processed):
            parsed.append(f"{Path(folder).name}/{key}")
            return read(processed)

        return original(folder, patterns, key, processed_files, counted)

    monkeypatch.setattr("session_recs.framework.config_loader.read_folder", counting)
    return parsed


def test_a_folder_is_parsed_once_and_again_after_a_change(conf, monkeypatch):
    parsed = parse_counter(monkeypatch)
    parsed_conf._kept.clear()
    first = loader(conf)["parameters"]
    assert "base/parameters" in parsed
    parsed.clear()
    assert loader(conf)["parameters"] == first
    assert loader(conf)["catalog"]  # the catalog's own parse, once
    parsed.clear()
    loader(conf)["catalog"]
    assert parsed == []  # nothing parsed again: the bytes are the same

    text = (conf / "base" / "parameters_split.yml").read_text()
    (conf / "base" / "parameters_split.yml").write_text(text.replace("seed: 123", "seed: 7"))
    changed = loader(conf)["parameters"]
    assert "base/parameters" in parsed
    assert changed["split"]["seed"] == 7 and first["split"]["seed"] == 123


def test_the_same_files_elsewhere_are_not_parsed_again_and_name_their_own_paths(
    conf, tmp_path, monkeypatch
):
    parsed = parse_counter(monkeypatch)
    loader(conf)["parameters"]
    other = Path(shutil.copytree(conf, tmp_path / "elsewhere" / "conf"))
    parsed.clear()
    config_loader = loader(other)
    assert config_loader["parameters"] == loader(conf)["parameters"]
    assert parsed == []
    base, _, base_path, *_ = config_loader._read_raw_config("parameters")
    assert base_path == str(other / "base")
    assert all(Path(path).is_relative_to(other) for path in base), sorted(base)


def test_a_readers_merge_does_not_reach_the_next_reader(conf):
    """Kedro merges into the first file's parsed tree in place; runtime parameters given
    to one run must not appear in the next run's parameters."""
    assert loader(conf, split={"seed": 5})["parameters"]["split"]["seed"] == 5
    assert loader(conf)["parameters"]["split"]["seed"] == 123
    base, *_ = loader(conf)._read_raw_config("parameters")
    base[next(iter(base))]["tampered"] = True
    assert "tampered" not in loader(conf)["parameters"]


def test_a_folder_named_relatively_reads_what_its_absolute_name_read(conf, monkeypatch):
    """A loader made with ``conf`` (inside the project, as the CLI does) after one made
    with the absolute path: the kept parse serves both, each naming its files."""
    parsed = parse_counter(monkeypatch)
    first = loader(conf)["parameters"]
    monkeypatch.chdir(conf.parent)
    parsed.clear()
    relative = loader(Path("conf"))
    assert relative["parameters"] == first
    assert parsed == []
    base, *_ = relative._read_raw_config("parameters")
    assert all(Path(path).is_absolute() and Path(path).is_relative_to(conf) for path in base)
