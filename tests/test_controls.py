"""The controls and the shared sidebar: notes under settings that show nothing meaningful, the sidebar's
dataset and architecture (ui/controls.py)."""

from __future__ import annotations

import json

from tests.apptest import assert_clean, open_page


def test_noise_averages_at_r_1_get_a_warning_on_the_confusion_page(real_data_dir) -> None:
    at = open_page("pages/confusion.py", n="100", r="1.0", part="noise")
    assert not at.exception
    assert any("At r = 1 no noise reaches the model" in w.value for w in at.warning)


def test_ground_truth_grouping_of_pure_noise_is_flagged(real_data_dir) -> None:
    at = open_page("pages/class_images.py", n="100", r="0.0")
    assert not at.exception
    assert any("grouping by the ground truth sorts pure noise" in note.value for note in at.info)


def test_fashion_and_alexnet_from_the_sidebar(real_data_dir) -> None:
    at = open_page("pages/class_images.py", n="200")
    at.selectbox(key="dataset").set_value("fashion_mnist").run()
    at.selectbox(key="arch").set_value("alexnet").run()
    assert_clean(at)
    assert "Ankle boot" in json.dumps(json.loads(at.get("plotly_chart")[0].proto.spec)["layout"])
