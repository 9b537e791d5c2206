"""Property tests of checkpoint loading: plausible and implausible files either load with
valid thresholds or raise CheckpointError naming the file."""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


# -- checkpoint loading ------------------------------------------------------------------------


@st.composite
def checkpoint_payloads(draw):
    """Plausible and implausible dicts of what a checkpoint file may hold."""
    from sarfeat import checkpoint
    from sarfeat.network import R2D2Net

    state = R2D2Net("fast_r2d2").state_dict()
    if draw(st.booleans(), label="drop a key"):
        state.pop(draw(st.sampled_from(sorted(state))))
    if draw(st.booleans(), label="bad tensor"):
        key = draw(st.sampled_from(sorted(state)))
        state[key] = draw(st.sampled_from([torch.zeros(3), torch.full((1,), float("nan")),
                                           "text", 1.5]))
    value = st.one_of(st.none(), st.integers(-2, 3), st.floats(allow_nan=True), st.text(max_size=4),
                      st.booleans(), st.lists(st.integers(), max_size=2))
    payload = draw(st.sampled_from([
        {"format": checkpoint.FORMAT_NAME, "format_version": 1, "architecture": "fast_r2d2",
         "state_dict": state, "metadata": {}},
        {"net": "Fast_Quad_L2Net_ConfCFS()", "state_dict": state},
        {"epoch": 3, "model_state_dict": state},
        dict(state),
    ]))
    for key in draw(st.lists(st.sampled_from(
            ["format_version", "architecture", "metadata", "state_dict", "format"]), max_size=3)):
        payload[key] = draw(value)
    if draw(st.booleans(), label="thresholds"):
        payload["metadata"] = {"detector": {"reliability_threshold": draw(value)}}
    return payload


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(payload=checkpoint_payloads())
def test_checkpoint_loading_raises_only_checkpoint_error(tmp_path, payload):
    from sarfeat.checkpoint import CheckpointError, load_checkpoint

    path = tmp_path / "candidate.pt"
    torch.save(payload, path)
    try:
        net = load_checkpoint(path)
    except CheckpointError as error:
        assert str(path) in str(error)
        return
    thresholds = net.metadata.get("detector", {})
    assert all(0 <= value <= 1 for value in thresholds.values() if value is not None)
