"""Random translation pairs for the chapter 11 sequence-to-sequence examples, which cannot
download the book's English-Spanish corpus here."""

import numpy as np


def random_pairs(n, rng, vocab_size, sequence_length):
    """``({"english": ..., "spanish": ...}, next_step)``: random sentences of 3 to
    ``sequence_length`` tokens padded with zeros at the end; the Spanish side starts
    with a "[start]" token and the target is it shifted by one step (the book's
    format_dataset)."""

    def padded(lengths):
        seqs = rng.integers(2, vocab_size, (n, sequence_length + 1))
        seqs[np.arange(sequence_length + 1) >= lengths[:, None]] = 0
        return seqs

    eng = padded(rng.integers(3, sequence_length + 1, n))[:, :-1]
    spa = padded(rng.integers(3, sequence_length + 2, n))
    spa[:, 0] = 1  # "[start]"
    return {"english": eng, "spanish": spa[:, :-1]}, spa[:, 1:]
