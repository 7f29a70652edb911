-- `rectification.overdue` is published once per item that passes its deadline not closed.
ALTER TABLE assessment.rectification_items
    ADD COLUMN overdue_notified boolean NOT NULL DEFAULT false;
CREATE INDEX rectification_items_due ON assessment.rectification_items (deadline)
    WHERE NOT overdue_notified AND state <> 'closed';
