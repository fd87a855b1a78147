"""The service layer: everything the dashboard pages need, without Streamlit.

``views`` reads (listings, summaries, comparisons), ``actions`` starts and stops
background jobs (the names a person reads are ``core.names``). Pages call these
(through ``dashboard/cache.py`` where a result is worth caching) and only draw.
"""

from core.service import actions, views

__all__ = ["actions", "views"]
