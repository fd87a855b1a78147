"""The service layer: everything the dashboard pages need, without Streamlit.

``views`` reads (listings, summaries, comparisons), ``actions`` starts and stops
background jobs, ``names`` turns configs into names a person reads. Pages call these
(through ``dashboard/cache.py`` where a result is worth caching) and only draw.
"""

from core.service import actions, names, views

__all__ = ["actions", "names", "views"]
