"""Noise Lens: what a convolutional network "sees" in white noise. Run with ``streamlit run app.py``."""

import streamlit as st

from pages import glue

st.set_page_config(page_title="Noise Lens", page_icon="🔍", layout="wide")

navigation = st.navigation([
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/models.py", title="Models", icon="🏋️"),
    st.Page("pages/class_images.py", title="Classification images", icon="🖼️"),
    st.Page("pages/confusion.py", title="Confusion heatmaps", icon="🟦"),
    st.Page("pages/compare.py", title="Compare", icon="🔀"),
])
glue.note_page(navigation.url_path)
glue.steady_live_redraws()
glue.remember_link_notes()
glue.sidebar()
with st.sidebar:
    st.caption("Every control is stored in the page address: copy the link to share exactly this view.")
navigation.run()
