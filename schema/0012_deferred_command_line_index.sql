-- The trigram index of command lines (0005) is filled after the rows are stored, not by a trigger in
-- the same statement: tokenizing a command line into trigrams costs far more than storing its row,
-- and would make bursts of commands wait for it. The recorder indexes stored rows in id order when
-- it has time; `indexed_upto` is the last command id the index holds. Queries search the index up to
-- there and read the (few) newer rows directly, so --grep never misses a command.
CREATE TABLE commands_argv_progress (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_upto INTEGER NOT NULL
);
INSERT INTO commands_argv_progress (id, indexed_upto) VALUES (1, (SELECT COALESCE(MAX(id), 0) FROM commands));
DROP TRIGGER commands_argv_insert;
-- Rows the index holds must leave it with their exact text (a contentless index cannot check).
DROP TRIGGER commands_argv_delete;
CREATE TRIGGER commands_argv_delete AFTER DELETE ON commands
WHEN old.id <= (SELECT indexed_upto FROM commands_argv_progress) BEGIN
    INSERT INTO commands_argv (commands_argv, rowid, argv) VALUES ('delete', old.id,
        CASE WHEN json_valid(old.argv) THEN (SELECT group_concat(value, ' ') FROM json_each(old.argv)) ELSE old.argv END);
END;
DROP TRIGGER commands_argv_update;
CREATE TRIGGER commands_argv_update AFTER UPDATE OF argv ON commands
WHEN old.id <= (SELECT indexed_upto FROM commands_argv_progress) BEGIN
    INSERT INTO commands_argv (commands_argv, rowid, argv) VALUES ('delete', old.id,
        CASE WHEN json_valid(old.argv) THEN (SELECT group_concat(value, ' ') FROM json_each(old.argv)) ELSE old.argv END);
    INSERT INTO commands_argv (rowid, argv) VALUES (new.id,
        CASE WHEN json_valid(new.argv) THEN (SELECT group_concat(value, ' ') FROM json_each(new.argv)) ELSE new.argv END);
END;
