"""The Kedro pipelines (the wiring layer): one package each, ``nodes.py`` adapting the
library to the catalog and ``pipeline.py`` wiring them; ``namespaces`` lists the models.
``find_pipelines`` registers every package here (``pipeline_registry.py``)."""
