"""SuperNNova (Möller & de Boissière 2020) inference without torch: the peer broker's ZTF models."""
