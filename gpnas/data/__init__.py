"""The data every program is scored on: search spaces (:mod:`.spaces`), their ground truth
(:mod:`.groundtruth`), and the network statistics (:mod:`.stats`: collection, shard format, store,
builder)."""
