-- 拟设目标: the targets a plan's tasks state, proposed for a coordinator to accept (becoming
-- targets) or reject. One row per statement of a task; a second reading of the plan refreshes
-- the undecided rows in place and never touches the decided ones.
CREATE TABLE indicators.proposed_targets (
    id               text PRIMARY KEY,
    plan             text NOT NULL,
    task             text NOT NULL,
    ordinal          integer NOT NULL CHECK (ordinal >= 0),
    -- Its place in the plan, for listing in task order.
    position         integer NOT NULL,
    task_number      text NOT NULL,
    task_title       text NOT NULL,
    owner_unit_id    text NOT NULL,
    statement        jsonb NOT NULL,
    suggested        jsonb NOT NULL DEFAULT '[]',
    unmatched        text,
    state            text NOT NULL DEFAULT 'proposed'
                     CHECK (state IN ('proposed', 'accepted', 'rejected')),
    target_ids       text[] NOT NULL DEFAULT '{}',
    reason           text,
    revision         bigint NOT NULL DEFAULT 1,
    create_time      timestamptz NOT NULL DEFAULT now(),
    update_time      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (task, ordinal),
    -- An accepted proposal names what it became; a rejected one why.
    CHECK (state <> 'accepted' OR cardinality(target_ids) > 0),
    CHECK (state <> 'rejected' OR reason IS NOT NULL)
);
CREATE INDEX proposed_targets_plan ON indicators.proposed_targets (plan, position, id);
