"""Sigma detection engine: rules -> pySigma -> condition trees -> DuckDB SQL over the store."""
