"""Scoring recommenders: the next-event protocol, what a result was measured on, the report."""
