-- Remove one window's events before re-deriving them (re-runnable writes).
DELETE FROM signals WHERE occurred_at >= $window_start AND occurred_at < $window_end;
