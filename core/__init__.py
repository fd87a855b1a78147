"""Shared engine of the approximate-symmetry dashboard.

Data generation (PhiFlow), the C4 symmetry action, models, training, evaluation,
the run store and background jobs live here. Nothing in this package imports
streamlit: the CLI, the tests, the background jobs and the dashboard all call it.
"""

__version__ = "0.1.0"
