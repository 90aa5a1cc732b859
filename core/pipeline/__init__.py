"""The stages of one run for one series, in the order a run takes them, fed by one `SeriesPlan`."""
