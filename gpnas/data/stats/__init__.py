"""Network statistics: collection (:mod:`.collect`), image samples (:mod:`.images`), the on-disk
store (:mod:`.store`) and the ``gpnas stats`` commands (:mod:`.cli`)."""

from gpnas.data.stats.collect import InstanceGroup, collect, group_instances

__all__ = ["InstanceGroup", "collect", "group_instances"]
