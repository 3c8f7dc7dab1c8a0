"""Assertions shared by the gradient-check tests."""

GRADIENT_TOLERANCE = 1e-6  # float64 central differences agree to ~1e-8 when backward is right


def assert_gradients_close(errors, tol=GRADIENT_TOLERANCE):
    """`errors` is gradcheck's {name: relative error}; name the worst one if it is too large."""
    worst = max(errors, key=errors.get)
    assert errors[worst] < tol, f"{worst}: relative error {errors[worst]:.2e}"
