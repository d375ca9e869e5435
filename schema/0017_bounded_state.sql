-- The recorder's own state is bounded (README, "What is recorded, and the bounds"), and what its
-- bounds cost is counted per run like the kernel's losses:
-- overflows: entries a full table refused (a process or listener not followed, as the kernel's full
--   map does not follow it) or gave up (the oldest running command, open session, open file or
--   awaited connection: the later updates of its row are lost). The sessions concerned get drops = 1.
-- unobserved_exits: processes found gone although their exit event never came (the kernel's ring
--   buffer dropped it, or its full map did not follow them); their commands end without exit code
--   and their sessions get drops = 1.
ALTER TABLE recorder_runs ADD COLUMN overflows INTEGER NOT NULL DEFAULT 0;
ALTER TABLE recorder_runs ADD COLUMN unobserved_exits INTEGER NOT NULL DEFAULT 0;
