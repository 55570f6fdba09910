"""Synthetic transformer-like float32 weights for the float benchmarks (bench/bench_floats.py).

``transformer_like(seed=0)`` returns ``{name: float32 array}`` in a fixed order: a token embedding whose row norms
follow a Zipf-like token frequency, position and token-type embeddings, ``layers`` encoder layers (attention q/k/v/o
``hidden x hidden``, MLP ``hidden x ffn`` and ``ffn x hidden``, each output row with its own log-normal scale, their
biases, two LayerNorms), and a final LayerNorm. With the defaults (BERT-base shapes, 6 layers) that is 66.4 M
parameters; ``hidden=384, ffn=1536`` gives 22.7 M. Same seed, same arrays (NumPy's PCG64 + ``standard_normal``).
"""

import numpy as np

__all__ = ["transformer_like"]


def transformer_like(seed=0, vocab=30522, hidden=768, ffn=3072, layers=6, positions=512, zipf=1.0):
    rng = np.random.default_rng(seed)

    def gauss(shape, scale):
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(scale)

    def projection(rows, cols, scale):
        row_scale = (scale * np.exp(0.3 * rng.standard_normal((rows, 1)))).astype(np.float32)
        return gauss((rows, cols), 1.0) * row_scale

    out = {}
    # token frequency ~ 1 / rank^zipf over a random rank order; the row norm grows with log frequency
    rank = rng.permutation(vocab) + 1
    log_freq = -zipf * np.log(rank.astype(np.float64))
    norm = 0.6 + 0.15 * (log_freq - log_freq.min())  # rare rows ~0.6, the most frequent ~2.1
    emb = gauss((vocab, hidden), 1.0)
    emb *= (norm / np.linalg.norm(emb, axis=1)).astype(np.float32)[:, None]
    out["embeddings.word_embeddings.weight"] = emb
    out["embeddings.position_embeddings.weight"] = gauss((positions, hidden), 0.02)
    out["embeddings.token_type_embeddings.weight"] = gauss((2, hidden), 0.02)

    def layer_norm(prefix):
        out[prefix + ".weight"] = 1.0 + gauss((hidden,), 0.05)
        out[prefix + ".bias"] = gauss((hidden,), 0.02)

    layer_norm("embeddings.LayerNorm")
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            out[p + name + ".weight"] = projection(hidden, hidden, 0.04)
            out[p + name + ".bias"] = gauss((hidden,), 0.01)
        layer_norm(p + "attention.output.LayerNorm")
        out[p + "intermediate.dense.weight"] = projection(ffn, hidden, 0.04)
        out[p + "intermediate.dense.bias"] = gauss((ffn,), 0.01)
        out[p + "output.dense.weight"] = projection(hidden, ffn, 0.02)
        out[p + "output.dense.bias"] = gauss((hidden,), 0.01)
        layer_norm(p + "output.LayerNorm")
    layer_norm("pooler.LayerNorm")
    return {name: np.ascontiguousarray(a, dtype=np.float32) for name, a in out.items()}
