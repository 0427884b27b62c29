"""Noise Lens: what a convolutional network "sees" in white noise. Run with ``streamlit run app.py``."""

import streamlit as st

from ui import frame

st.set_page_config(page_icon="🔍", layout="wide")
frame.install()
page = frame.navigation()
# Each page's own name in the browser's tab and history (every page was "Noise Lens": an accessibility review)
st.set_page_config(page_title=f"{page.title} · Noise Lens")
frame.frame(page.url_path)
page.run()
