-- Data elements and indicators are soft-deleted (AIP-164) like targets and data sets: kept with
-- the time, readable by name, out of lists, the catalogue and new formulas; their codes stay
-- taken, and the values reported for an element stay with it.
ALTER TABLE indicators.data_elements ADD COLUMN delete_time timestamptz;
ALTER TABLE indicators.indicators ADD COLUMN delete_time timestamptz;
