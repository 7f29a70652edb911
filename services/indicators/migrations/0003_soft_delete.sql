-- Targets and data sets are soft-deleted (AIP-164): kept, with the time, out of lists and
-- evaluation; every version stays in the audit log.
ALTER TABLE indicators.targets ADD COLUMN delete_time timestamptz;
ALTER TABLE indicators.data_sets ADD COLUMN delete_time timestamptz;
