"""Programs -> network scores -> correlations: the task (statistics in memory), the batched engine,
executors (where scores are computed), fitness, the streamed held-out test, and the naive
interpreter the engine is tested against.  Knows no search."""
