"""The service layer: everything the dashboard pages need, without Streamlit.

One module per thing the pages handle, each with its reads and its actions: ``datasets``,
``runs``, ``training`` (the Train form), ``sweeps`` (+ ``sweep_ratios``), ``comparison``,
``jobs``, ``items`` (rename, delete); below them ``queue`` (the one job runner) and
``common``; the names a person reads are ``core.names``. Pages call these (through
``dashboard/cache.py`` where a result is worth caching) and only draw.
"""
