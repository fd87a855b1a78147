"""Entry point: ``streamlit run dashboard/app.py``.

Builds the multipage navigation; each page lives in ``dashboard/app_pages/`` and only
draws what ``core`` computes.
"""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run dashboard/app.py` puts dashboard/ on sys.path, not the project root.
_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import streamlit as st  # noqa: E402

from dashboard.exposure import warn_once  # noqa: E402

# `streamlit run` sets sys.argv[0] to this script; AppTest (no server, no terminal) does not.
if Path(sys.argv[0]).resolve() == Path(__file__).resolve():
    warn_once(st.get_option("server.address"))  # once per server process, in its terminal

# Not "pages/": Streamlit would also serve a folder of that name as old-style pages, bypassing app.py.
_PAGES = Path(__file__).resolve().parent / "app_pages"

#: Addresses that also reach the landing page (a bookmark of /home, the page's own name).
ALIASES = ("home", "symmetry")

st.set_page_config(page_title="Approximate symmetry", page_icon="🌀", layout="wide")

# url_path: the default page reserves one though it is served at "/" (not "symmetry", an alias).
landing = st.Page(
    _PAGES / "symmetry.py", title="Symmetry", icon=":material/autorenew:", default=True, url_path="landing"
)


def _to_landing() -> None:
    st.switch_page(landing)


navigation = st.navigation(
    [
        landing,
        st.Page(_PAGES / "data.py", title="Data", icon=":material/air:", url_path="data"),
        st.Page(_PAGES / "train.py", title="Train", icon=":material/model_training:", url_path="train"),
        st.Page(_PAGES / "compare.py", title="Compare", icon=":material/compare:", url_path="compare"),
        st.Page(_PAGES / "table1.py", title="Table 1", icon=":material/table_chart:", url_path="table1"),
        # The landing page is served at "/" whatever its url_path, so /home and /symmetry would
        # answer "Page not found", or show it with no sidebar item lit: each hidden alias switches
        # to the landing page itself, which the browser then shows at "/" with "Symmetry" lit.
        *(st.Page(_to_landing, title="Symmetry", url_path=alias, visibility="hidden") for alias in ALIASES),
    ]
)
navigation.run()
