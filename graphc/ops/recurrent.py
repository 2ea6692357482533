"""Recurrent ops: whole-sequence SimpleRNN, LSTM and GRU."""

__all__ = []
