//! Reports: the metrics users query, defined once over the rollups.
