-- Assignments are listed in task order: the task's position kept on the assignment, so pages of
-- a plan's (or a unit's) assignments walk an index instead of sorting the join on every page.
ALTER TABLE plans.assignments ADD COLUMN task_position int;
UPDATE plans.assignments a SET task_position = t.position
FROM plans.tasks t WHERE t.plan_id = a.plan_id AND t.id = a.task_id;
ALTER TABLE plans.assignments ALTER COLUMN task_position SET NOT NULL;
CREATE INDEX assignments_plan_order ON plans.assignments (plan_id, task_position, unit_id, role);
CREATE INDEX assignments_unit_order ON plans.assignments (unit_id, plan_id, task_position, role);
