"""Built-in publishers: files (CSV/Parquet/JSON) and sql (another database)."""
