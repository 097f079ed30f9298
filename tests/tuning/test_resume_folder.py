"""tune.resume loads Ray Tune's pickled experiment state: only from the project's data/."""

from __future__ import annotations

import pytest

from session_recs.core.errors import ConfigError
from session_recs.tuning.stop_resume import check_resumable, storage_root


def test_a_search_resumes_only_from_the_projects_data_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    inside = "data/06_models/demo/ray_tune"
    check_resumable(inside, storage_root(inside))  # the default: accepted
    for outside in (str(tmp_path.parent / "elsewhere"), "data/../../elsewhere", "s3://b/tune"):
        with pytest.raises(ConfigError) as refused:
            check_resumable(outside, storage_root(outside))
        message = str(refused.value)
        assert "\n" not in message and f"ray.storage_path is {outside!r}" in message
        assert f"{tmp_path / 'data'}/ folder" in message
