"""Built-in cells, one per file: simple (SimpleRNN), lstm, gru, bidirectional."""
