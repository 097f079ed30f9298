"""MLflow's model-from-code file for a served session-recs recommender.

:func:`session_recs.models.pyfunc.log_model` passes this file as the pyfunc ``python_model``;
MLflow runs it when the model is loaded (``mlflow models serve``), with the session-recs
code the model carries on ``sys.path``.
"""

from mlflow.models import set_model

from session_recs.models.pyfunc import python_model

set_model(python_model())
