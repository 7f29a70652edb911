-- Publishing: the day groups were expanded, and one assignment per unit, task and role.
ALTER TABLE plans.plans ADD COLUMN publish_date date;

CREATE TABLE plans.assignments (
    id          text PRIMARY KEY,
    plan_id     text NOT NULL,
    task_id     text NOT NULL,
    unit_id     text NOT NULL,
    role        text NOT NULL,
    mention     text NOT NULL,
    state       text NOT NULL,
    revision    bigint NOT NULL DEFAULT 1,
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (plan_id, task_id) REFERENCES plans.tasks (plan_id, id),
    UNIQUE (plan_id, task_id, unit_id, role)
);
CREATE INDEX assignments_unit ON plans.assignments (unit_id, plan_id, task_id);
