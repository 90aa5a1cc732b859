"""Candles as data: the frame contract and series keys, timeframes, validation, gaps, CSV files."""
