"""Carbon Track core: domain and data, no Dash imports."""
