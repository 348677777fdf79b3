"""Record: the immutable value base the plugin's values are built on."""

import pytest

from check_cert_validity.thresholds import Policy, TimeRange
from check_cert_validity.transport import Endpoint


def test_values_are_immutable() -> None:
    endpoint = Endpoint("db1.internal", 5432)
    with pytest.raises(AttributeError, match="Endpoint is immutable"):
        endpoint.port = 1  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        del endpoint.host


def test_equality_hash_and_repr_follow_the_fields() -> None:
    assert TimeRange(1, 2) == TimeRange(1.0, 2.0, False)
    assert TimeRange(1, 2) != TimeRange(1, 2, True)
    assert len({TimeRange(1, 2), TimeRange(1, 2), TimeRange(0, 2)}) == 2
    assert TimeRange(1, 2) != (1, 2, False)  # not a tuple
    assert repr(Endpoint("h")) == "Endpoint(address=None, family=0, host='h', port=443, sni=None)"


def test_validation_still_runs_on_creation() -> None:
    with pytest.raises(ValueError, match="must be shorter than"):
        Policy(validity=10.0, rotation=20.0)
