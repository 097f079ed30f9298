"""Model kinds added by a module alone: ``kinds/<kind>.py`` defines the
:class:`~session_recs.models.base.Recommender` subclass whose ``name`` is ``<kind>``, and the
baseline pipeline trains it as namespace ``<kind>`` with ``<kind>.model`` from
``conf/base/parameters_baseline.yml`` (:mod:`session_recs.models.registry` finds the module
without importing it). CONTRIBUTING.md, "Add a model".
"""
