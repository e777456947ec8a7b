"""Pure figure builders: pandas DataFrame in, plotly Figure (or HTML text) out.

No Streamlit and no DuckDB here, so the same builders serve the app, the command line
(``memscope export-figures``) and the tests. One view per module:

- :mod:`app.figures.heatmap`: cells x steps heatmap of reads, writes, usage or age.
- :mod:`app.figures.survival`: Kaplan-Meier survival of cell content (lifelines).
- :mod:`app.figures.timeline`: one token axis with entropy/surprisal/KL and event glyph rows.
- :mod:`app.figures.tokens`: the generated text, each token coloured by surprisal or entropy.
- :mod:`app.figures.projection`: scatter of projected (UMAP) signatures.
- :mod:`app.figures.curves`: metric curves (accuracy vs distance, forgetting).
- :mod:`app.figures.diff`: the Compare page's difference views of two runs.
"""
