-- Due dates, progress reports with evidence, reassignment, and parent plans (对标对表).

-- 完成时限 of an assignment: the task's deadline until the unit's work plan sets its own.
ALTER TABLE plans.assignments
    ADD COLUMN due_date         date,
    ADD COLUMN progress_status  text,
    ADD COLUMN progress_percent int,
    ADD COLUMN progress_time    timestamptz;
UPDATE plans.assignments a SET due_date = coalesce(
    (a.work_plan ->> 'due_date')::date,
    (SELECT min((d ->> 'date')::date) FROM plans.tasks t, jsonb_array_elements(t.deadlines) d
     WHERE t.plan_id = a.plan_id AND t.id = a.task_id AND d ->> 'date' IS NOT NULL));
CREATE INDEX assignments_due ON plans.assignments (due_date, id) WHERE state <> 'completed';

-- Reports are appended, never updated: the history of an assignment.
CREATE TABLE plans.progress_reports (
    id            text PRIMARY KEY,
    assignment_id text NOT NULL REFERENCES plans.assignments (id),
    -- The unit the assignment was with when reported (reassignment moves the assignment).
    unit_id       text NOT NULL,
    status        text NOT NULL,
    percent       int NOT NULL CHECK (percent BETWEEN 0 AND 100),
    narrative     text NOT NULL,
    reporter      text NOT NULL,
    create_time   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX progress_reports_assignment ON plans.progress_reports (assignment_id, create_time DESC, id DESC);

-- Evidence files: metadata here, content in the blob store under its SHA-256.
CREATE TABLE plans.evidence (
    report_id    text NOT NULL REFERENCES plans.progress_reports (id),
    position     int NOT NULL,
    sha256       text NOT NULL,
    file_name    text NOT NULL,
    content_type text NOT NULL,
    size_bytes   bigint NOT NULL,
    PRIMARY KEY (report_id, position)
);
CREATE INDEX evidence_sha256 ON plans.evidence (sha256);

ALTER TABLE plans.plans ADD COLUMN parent_plan_id text REFERENCES plans.plans (id);
ALTER TABLE plans.tasks ADD COLUMN parent_task_id text;
