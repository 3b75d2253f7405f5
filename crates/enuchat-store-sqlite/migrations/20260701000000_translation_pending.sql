-- A message whose translation job has not finished yet. The visitor's
-- real-time channel holds such a message back for a few seconds so that
-- it arrives translated; when the job ends without a translation (failed,
-- skipped, no credits), the flag is cleared and the original is shown.
ALTER TABLE messages ADD COLUMN translation_pending INTEGER NOT NULL DEFAULT 0;
