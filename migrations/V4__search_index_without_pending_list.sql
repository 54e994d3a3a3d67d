-- V4: the search index takes each message's words at once, not through a pending list.
--
-- With GIN's default `fastupdate`, an insert appends its entries to the index's pending list,
-- and whichever insert finds the list over `gin_pending_list_limit` (4 MB) merges all of it
-- into the index while the inserts behind it wait for the lock: a sent message then waited
-- 50 to 260 ms to be stored, every half minute or so at 100 msg/s, where appends otherwise take
-- about 1.3 ms (p50; 4.3 ms p99). Autovacuum merges the list in the background too, but only
-- when it runs; a busy table fills the list sooner. Without the list, each insert updates the
-- index itself: a few more page writes per message, no stalls, and searches never scan a
-- pending list.
--
-- Measured with the per-send timings of `CHAT_LOCAL_LOG=warn,chat_shared::app::send_message=debug
-- bench/load.sh delivery --duration 40` (docs/benchmarks.md, "Load"): the slowest append
-- 72 ms and 260 ms in two runs before, 14 ms after.
ALTER INDEX messages_participant_search_idx SET (fastupdate = off);
-- What an existing list holds is merged now, not at the next vacuum.
SELECT gin_clean_pending_list('messages_participant_search_idx');
