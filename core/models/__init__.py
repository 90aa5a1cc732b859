"""Recurrent models: the cell contract, model assembly around a cell, training, persistence."""
