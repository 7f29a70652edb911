-- A group a region defines for its own plans (许昌's 各有关部门) resolves only at or below that
-- region; NULL owner is a shared group, maintained by admins.
ALTER TABLE units.unit_groups ADD COLUMN owner_id text REFERENCES units.units (id);
