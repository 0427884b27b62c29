"""Streamlit support for the pages: link sync, controls, cached resources, the live run, the app's frame.

Everything that needs no Streamlit lives in ``core``; every touch of Streamlit's private internals lives in
``ui.streamlit_internals``.
"""
