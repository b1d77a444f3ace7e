"""genims-ml: a supervised baseline on genims Parquet output, with leakage checks."""
