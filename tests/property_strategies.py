"""Hypothesis settings and strategies shared by the property tests
(tests/data/test_data_properties.py, tests/config/test_config_properties.py)."""

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Any Unicode text a UTF-8 file can hold (no lone surrogates).
TEXT_CHARS = st.characters(exclude_categories=("Cs",))
SIDE = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\t\n\r"), min_size=1, max_size=12)
