-- A file or network row stands for its operation's repeats from first_at to last_at (a loop that
-- rewrites a file, a connect retried): --since and --until match every row that overlaps the
-- period, so a loop begun before the period still shows for what it did in it. Rows begun in the
-- period are found by first_at; these indexes find the others, those begun before it that went on
-- into it (first_at is in the index, so that those are told apart without reading the rows). A row
-- seen once (last_at = first_at), most rows, is not in them.
CREATE INDEX file_activity_spans ON file_activity (last_at, first_at) WHERE last_at > first_at;
CREATE INDEX network_activity_spans ON network_activity (last_at, first_at) WHERE last_at > first_at;
