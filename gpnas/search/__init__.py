"""The search: Algorithm 1 (:mod:`.loop`), selection, the evaluator (validity probe, caches,
equivalence), the hall of fame, checkpoints, network sampling and the choice of a representation.
Knows no run directory."""
