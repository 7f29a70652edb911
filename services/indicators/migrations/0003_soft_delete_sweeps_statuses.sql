-- Targets and data sets are soft-deleted (AIP-164): kept, with the time, out of lists and
-- evaluation; every version stays in the audit log.
ALTER TABLE indicators.targets ADD COLUMN delete_time timestamptz;
ALTER TABLE indicators.data_sets ADD COLUMN delete_time timestamptz;

-- 催报: each (data set, period) whose due day passed is swept once for overdue returns; the row
-- is written in the transaction that publishes their `return.overdue` events.
CREATE TABLE indicators.return_sweeps (
    data_set_id text NOT NULL REFERENCES indicators.data_sets (id),
    period      text NOT NULL,
    overdue     integer NOT NULL,
    sweep_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (data_set_id, period)
);

-- The last verdict of each target for each unit and period, as the status follower saw it after
-- an approval or a reopening: what a `target.status_changed` event is measured against.
CREATE TABLE indicators.target_statuses (
    target_id   text NOT NULL REFERENCES indicators.targets (id),
    unit_id     text NOT NULL,
    period      text NOT NULL,
    status      text NOT NULL,
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_id, unit_id, period)
);
