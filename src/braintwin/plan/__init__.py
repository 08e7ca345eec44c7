"""Treatment decision support: regimens as data, plan comparison and optimisation under the
twin's posterior, and model-informed target volumes (DESIGN.md: may import growth, calibrate)."""
