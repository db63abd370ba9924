"""Server-side aggregation from counts only: MADA, FedPM, and the dense baseline's mean."""
