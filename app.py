"""Noise Lens: what a convolutional network "sees" in white noise. Run with ``streamlit run app.py``."""

import streamlit as st

from ui import frame

st.set_page_config(page_title="Noise Lens", page_icon="🔍", layout="wide")
frame.install()
page = frame.navigation()
frame.frame(page.url_path)
page.run()
