"""Language models: loading any Hugging Face causal LM, and the embedded tiny LM (corpus, training)."""
