"""Attention-gated moment memory (seed 000) over any Hugging Face causal LM.

At each token boundary the next-token distribution is summarised (:mod:`distribution`);
significant moments are detected (:mod:`detection`) and stored as small signatures
(:mod:`signature`) in a device-resident bank (:mod:`bank`); every new distribution is compared
with all stored signatures in one batched operation (:mod:`divergence`); a close match
("resonance") re-injects the stored distribution (:mod:`memory`, :mod:`resonance` as a
``LogitsProcessor``); the bank is consolidated (:mod:`consolidation`), kept as episode chains
(:mod:`chains`), saved and loaded (:mod:`persistence`), and streamed token by token
(:mod:`session`).
"""
