"""Fast-weight episodic memory: the complementary-learning-systems family (seed 001).

One small module per mechanism of the seed, each with the seed's symbols in its docstrings:

- :mod:`engine.cls.config`: ``CLSConfig`` and the range checks on ``eta`` and ``lambda``.
- :mod:`engine.cls.fast_weights`: ``F_t = F_{t-1} + g_t eta k_t v_t^T`` (Hebbian) and the delta
  rule, step by step and in the chunked (parallel) form used for training.
- :mod:`engine.cls.write_gate`: ``g_t = sigmoid(w_g^T [h_t; c_t] + b_g)``.
- :mod:`engine.cls.context_drift`: ``c_t = lambda c_{t-1} + U h_t`` and ``h~_{t+1} = h_{t+1} + W_c c_t``.
- :mod:`engine.cls.hypernetwork`: ``Delta F_t = G_phi(h_t)`` (a low-rank generated update).
- :mod:`engine.cls.augmented_attention`: ordinary attention output plus the fast-weight read.
- :mod:`engine.cls.knn_memory`: top-K nearest past hidden states fused by cross-attention.
- :mod:`engine.cls.graph_memory`: nodes, ``E_jk = sigma(n_j^T W_e n_k)``, one graph convolution, read by attention.
- :mod:`engine.cls.consolidation`: the replay loss; :mod:`engine.cls.ewc` and :mod:`engine.cls.synaptic_intelligence`.
- :mod:`engine.cls.model`: the project's own small Transformer with these layers (host 1).
- :mod:`engine.cls.hf_attach`: a fast-weight path hooked onto a Hugging Face GPT-2 or Llama (host 2).
"""
